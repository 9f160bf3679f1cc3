// Rewrites every marked sample block in README.md and docs/*.md with what the code prints
// against the local stand-ins (tests/samples/samples.ts): `deno task samples`. Samples marked
// `registry` need docker-registry and podman (a Fedora CoreOS stand-in image is built and pushed);
// `--offline` regenerates only the others.
import { inspectImage } from "../../lib/registry/registry.ts";
import { pushFixtureImages } from "../helpers/fcos_fixtures.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  ROOT,
  SAMPLE_STREAMS,
  sampleBlocks,
  sampleBody,
  type SampleEnv,
  sampleFiles,
  startStandIns,
} from "./samples.ts";

const offline = Deno.args.includes("--offline");
const files = await sampleFiles();
const blocks = [...files].flatMap(([file, text]) => sampleBlocks(file, text));
const wanted = blocks.filter((b) => !offline || !b.registry);
const cleanups: (() => Promise<void>)[] = [];
try {
  let where: SampleEnv;
  if (wanted.some((b) => b.registry)) {
    const registry = await startRegistry();
    cleanups.push(() => registry.stop());
    const refs = await pushFixtureImages(registry.host, "fedora/fedora-coreos");
    const digest = (await inspectImage(refs.fcos43, "x86_64")).manifestDigest;
    const streams = structuredClone(SAMPLE_STREAMS);
    streams.stable![0]!.digests = { x86_64: digest };
    streams.stable![0]!.repository = `${registry.host}/fedora/fedora-coreos`;
    const standIns = startStandIns(streams);
    cleanups.push(standIns.stop);
    // matrix.yaml's first target is the stand-in image: `versions` without --image asks it.
    const matrix = await Deno.makeTempFile({ suffix: ".yaml" });
    cleanups.push(() => Deno.remove(matrix));
    const text = await Deno.readTextFile(`${ROOT}matrix.yaml`);
    await Deno.writeTextFile(
      matrix,
      text.replaceAll("quay.io/fedora/fedora-coreos:stable", refs.fcos43),
    );
    where = {
      env: { ...standIns.env, MATRIX_FILE: matrix },
      fcos: refs.fcos43,
      registryHost: registry.host,
    };
  } else {
    const standIns = startStandIns();
    cleanups.push(standIns.stop);
    where = { env: standIns.env };
  }
  for (const [file, text] of files) {
    // from the end, so earlier offsets stay valid
    let updated = text;
    const mine = wanted.filter((b) => b.file === file).sort((a, b) => b.start - a.start);
    for (const block of mine) {
      const body = await sampleBody(block, where);
      updated = updated.slice(0, block.start) + body + updated.slice(block.end);
    }
    if (updated !== text) {
      await Deno.writeTextFile(`${ROOT}${file}`, updated);
      console.log(`${file}: ${mine.length} sample(s) rewritten`);
    }
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
