// The kernel forecast against a stand-in of the Fedora CoreOS builds server with 50 ms added
// to every answer: one release index per stream, the newest kernels read in parallel, then
// the fallback walks; prints the request count and wall time against doing them one by one.
// Run with `deno task bench`.
import { collectForecast, defaultSources } from "../lib/coreos/forecast.ts";
import { parseMatrix } from "../lib/matrix/matrix_schema.ts";
import { CROSSING, fcosBuilds, testMatrix } from "../tests/helpers/release_index.ts";

const LATENCY_MS = 50;
const handler = fcosBuilds(CROSSING);
let requests = 0;
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    requests++;
    await new Promise((resolve) => setTimeout(resolve, LATENCY_MS));
    return handler(request);
  },
);
server.unref();
const base = `http://127.0.0.1:${server.addr.port}`;
const matrix = parseMatrix(testMatrix());

{
  const started = performance.now();
  const rows = await collectForecast(matrix, defaultSources(base));
  const ms = performance.now() - started;
  console.log(
    `forecast of ${rows.length} streams: ${requests} requests in ${ms.toFixed(0)} ms ` +
      `(one by one: ${requests * LATENCY_MS} ms at ${LATENCY_MS} ms each)`,
  );
}

Deno.bench(`collectForecast() 3 streams, ${LATENCY_MS} ms per answer`, async () => {
  await collectForecast(matrix, defaultSources(base));
});
