/**
 * The load generator of the serve-moderations benchmark, in a worker thread so that the client's work (fetch, JSON)
 * does not run on the server's event loop, as it would not in a deployment. Runs one batch per message.
 */
import { parentPort } from "node:worker_threads";

export interface ClientBatch {
  url: string;
  prompts: string[];
  /** Index of the first prompt (prompts are used in turn). */
  offset: number;
  requests: number;
  concurrency: number;
}

export interface ClientResult {
  wallMs: number;
  latencies: number[];
  error?: string;
}

async function run(batch: ClientBatch): Promise<ClientResult> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: batch.concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= batch.requests) return;
        const input = batch.prompts[(batch.offset + i) % batch.prompts.length]!;
        const t = performance.now();
        const r = await fetch(batch.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ input }),
        });
        const body = (await r.json()) as { results?: unknown[] };
        if (r.status !== 200 || body.results?.length !== 1) {
          throw new Error(`HTTP ${r.status}: ${JSON.stringify(body).slice(0, 300)}`);
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { wallMs: performance.now() - started, latencies };
}

parentPort?.on("message", (batch: ClientBatch) => {
  run(batch).then(
    (result) => parentPort!.postMessage(result),
    (error: unknown) => parentPort!.postMessage({ wallMs: 0, latencies: [], error: String(error) }),
  );
});
