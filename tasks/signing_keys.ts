// Creates the maintainer's signing keys: the kernel-module signing key and certificate (openssl)
// and the cosign image-signing pair, and with --set-secrets stores them as repository secrets.
// deno task signing-keys [--dir keys] [--set-secrets] [--repo OWNER/REPO] [--json]
//   (passphrase of cosign.key in SIGSTORE_PASSWORD)
import {
  jsonOption,
  main,
  repoOption,
  stderrLogger,
  taskCommand,
  userPath,
} from "../lib/cli/cli.ts";
import { render } from "../lib/cli/render.ts";
import { createKeys, SECRET_NAMES, setSecrets } from "../lib/signing/signing_keys.ts";
import { sigstorePassphrase } from "../lib/signing/sigstore_files.ts";

if (import.meta.main) {
  main(async () => {
    const options = taskCommand(
      "signing-keys",
      "Create the module-signing certificate and the cosign image-signing keys (and store them as secrets)",
    )
      .option("--dir <dir>", "folder to write the keys into (must not hold them yet)", "keys")
      .option("--set-secrets", `store them with gh secret set: ${SECRET_NAMES.join(", ")}`)
      .addOption(
        repoOption("the repository of the secrets (default: gh's, GH_REPO or the git remote)"),
      )
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" })
      .opts();
    const passphrase = sigstorePassphrase();
    const dir = userPath(options.dir);
    const name = `fedora-zfs-kmods module signing${options.repo ? ` (${options.repo})` : ""}`;
    const keys = await createKeys(dir, passphrase, name);
    stderrLogger.info(`Wrote ${keys.files.join(", ")} to ${dir}`);
    const secrets = options.setSecrets ? await setSecrets(dir, passphrase, options.repo) : [];
    render({
      values: { ...keys, secrets },
      lines: [
        `created: ${keys.files.map((file) => `${dir}/${file}`).join(" ")}`,
        `certificate sha256: ${keys["cert-sha256"]}`,
        secrets.length > 0
          ? `secrets set: ${secrets.join(", ")}`
          : "secrets not set (run again with --set-secrets, or set them by hand: docs/signing.md)",
        "commit cosign.pub; keep signing_key.pem and cosign.key out of git",
      ],
      summary: false,
    }, options);
  });
}
