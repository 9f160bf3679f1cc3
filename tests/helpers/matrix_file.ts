// A copy of the project's matrix.yaml with another publish image, for tests whose stand-in
// registry must count as the project's own (GitHub credentials are sent only there).

/** Writes matrix.yaml with `publish.image` set to `image` into a temporary file; returns its path. */
export async function matrixWithPublishImage(image: string): Promise<string> {
  const source = new URL("../../matrix.yaml", import.meta.url);
  const text = await Deno.readTextFile(source);
  const replaced = text.replace(
    /^(publish:\s*\n(?:\s+#.*\n)*\s+image:\s*)\S+/m,
    (_match, head: string) => `${head}${image}`,
  );
  if (replaced === text) throw new Error("matrix.yaml has no publish.image line to replace");
  const file = await Deno.makeTempFile({ prefix: "matrix-", suffix: ".yaml" });
  await Deno.writeTextFile(file, replaced);
  return file;
}
