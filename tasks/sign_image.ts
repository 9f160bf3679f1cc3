// Signs a pushed image the way cosign does with a key (a simple-signing payload, ECDSA P-256)
// and pushes the signature as the tag sha256-<hex>.sig in the image's repository (docs/signing.md).
// deno task sign-image <image@sha256:…> --key cosign.key [--github-output] [--json]
//   (passphrase in SIGSTORE_PASSWORD)
import {
  assertOutputsWritable,
  jsonOption,
  main,
  parseWith,
  stderrLogger,
  taskCommand,
} from "../lib/cli/cli.ts";
import { imageRef } from "../lib/core/patterns.ts";
import { render } from "../lib/cli/render.ts";

export const OUTPUTS = ["signature-tag", "signature-digest"] as const;

if (import.meta.main) {
  main(async () => {
    const command = taskCommand(
      "sign-image",
      "Sign a pushed image with a cosign key and push the signature (tag sha256-<hex>.sig)",
    )
      .argument("<image>", "the image to sign, by digest: REPO@sha256:…", parseWith(imageRef))
      .requiredOption("--key <file>", "cosign's encrypted private key (cosign.key)")
      .option("--github-output", "write signature-tag and signature-digest to $GITHUB_OUTPUT")
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" });
    const [image] = command.processedArgs;
    const options = command.opts();
    if (options.githubOutput) assertOutputsWritable();
    // Imported after parsing: --help and a bad flag start without the crypto and registry code.
    const { loadPrivateKey } = await import("../lib/signing/sigstore_files.ts");
    const { signImage } = await import("../lib/signing/sigstore_image.ts");
    const privateKey = await loadPrivateKey(options.key);
    const result = await signImage(image, privateKey);
    stderrLogger.info(
      `${result.signatures} signature${result.signatures === 1 ? "" : "s"} in ` +
        `${result.name}:${result["signature-tag"]}`,
    );
    render({
      values: { ...result },
      outputs: OUTPUTS,
      lines: [`signed: ${result.name}@${result.digest} -> ${result["signature-tag"]}`],
      summary: false,
    }, options);
  });
}
