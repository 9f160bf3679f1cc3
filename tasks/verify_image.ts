// Verifies that an image carries a cosign key signature by the given public key that names
// this repository and digest (what a `sigstoreSigned` policy checks). Exit 0 verified, 1 refused.
// deno task verify-image <image@sha256:…|image:tag> --key cosign.pub [--json]
import { jsonOption, main, parseWith, taskCommand } from "../lib/cli/cli.ts";
import { imageRef } from "../lib/core/patterns.ts";
import { render } from "../lib/cli/render.ts";

if (import.meta.main) {
  main(async () => {
    const command = taskCommand(
      "verify-image",
      "Verify an image's cosign key signature (sha256-<hex>.sig) with a public key",
    )
      .argument("<image>", "the image: REPO@sha256:… or REPO:TAG", parseWith(imageRef))
      .requiredOption("--key <file>", "the public key (cosign.pub)")
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" });
    const [image] = command.processedArgs;
    const options = command.opts();
    // Imported after parsing: --help and a bad flag start without the crypto and registry code.
    const { loadPublicKey } = await import("../lib/signing/sigstore_files.ts");
    const { verifyImage } = await import("../lib/signing/sigstore_image.ts");
    const publicKey = await loadPublicKey(options.key);
    const result = await verifyImage(image, publicKey);
    const pinned = `${result.name}@${result.digest}`;
    render({
      values: { ...result, signatures: result.signatures.map((s) => ({ ...s })) },
      lines: [result.verified ? `verified: ${pinned}` : `not verified: ${pinned}`],
      errors: result.verified ? [] : [`${pinned}: ${result.detail}`],
      summary: false,
    }, options);
    return result.verified ? 0 : 1;
  });
}
