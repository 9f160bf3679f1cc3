// Lists the RPMs inside a kmods image (local, else pulled), grouped by folder; no container runs.
// deno task list-rpms [KMODS-IMAGE | --image TARGET --arch A --zfs TAG] [--json]
import { jsonOption, main, taskCommand } from "../lib/cli/cli.ts";
import { kmodsImageArguments, resolveKmodsImage } from "../lib/build/kmods_image.ts";
import { render } from "../lib/cli/render.ts";
import { groupRpms, rpmsResult } from "../lib/build/rpms.ts";

if (import.meta.main) {
  main(async () => {
    const command = kmodsImageArguments(
      taskCommand("list-rpms", "List the RPMs inside a kmods image, grouped by folder"),
    )
      .addOption(jsonOption())
      .parse(Deno.args, { from: "user" });
    const options = command.opts();
    const image = await resolveKmodsImage(command.processedArgs[0], options);
    const { containerFiles, withContainer } = await import("../lib/build/podman.ts");
    const groups = groupRpms(await withContainer(image, containerFiles));
    render(rpmsResult(image, groups), { json: options.json });
    return 0;
  });
}
