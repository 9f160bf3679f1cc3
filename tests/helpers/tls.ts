// A throw-away TLS identity for loopback stand-ins that the real gh talks to
// (`GH_HOST=localhost:PORT` plus `SSL_CERT_FILE`).
import assert from "node:assert/strict";

/** A self-signed certificate for localhost and 127.0.0.1, made with openssl, valid one day. */
export async function selfSignedCert(
  dir: string,
): Promise<{ certFile: string; cert: string; key: string }> {
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const result = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(result.success, new TextDecoder().decode(result.stderr));
  return {
    certFile,
    cert: await Deno.readTextFile(certFile),
    key: await Deno.readTextFile(keyFile),
  };
}
