/**
 * Server benchmark: `POST /v1/moderations` over HTTP on loopback against the same GenGuard called directly, at
 * several concurrencies, in one process on one model (the server's runtime: its guard, its queue, its policy, its
 * logs written to /dev/null). The client (fetch, keep-alive) runs in a worker thread: off the server's event loop,
 * but on the same cores, so its CPU time still slows the server down. Rounds alternate library and server at each
 * concurrency so that the machine's drift hits both; the overhead is the median of the rounds' ratios (a load
 * spike from elsewhere skews one round, not the figure) next to the ratio of the totals.
 *
 * Models: `demo` (the hand-set toy Gen model the server's --demo serves), or a synthetic checkpoint (`tiny`,
 * `0.6b`, random weights). Their verdicts mean nothing; the timings are real.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { FastifyInstance } from "fastify";
import { parseServerConfig } from "../src/server/config.js";
import { createServer } from "../src/server/create-server.js";
import { loadServerRuntime, type ServerRuntime } from "../src/server/runtime.js";
import { benchCacheDir, ensureBenchModel } from "./bench-models.js";
import { openaiModerationPrompts } from "./datasets.js";
import type { ClientBatch, ClientResult } from "./serve-client-worker.js";
import { summarize, type Summary } from "./stats.js";

export interface ServeModerationsOptions {
  model: "demo" | "tiny" | "0.6b";
  /** Requests per path, per concurrency, per round. */
  requests: number;
  concurrency: number[];
  rounds: number;
  /** Engine sequences (concurrent Gen requests). */
  sequences: number;
  /** llama.cpp threads (default: the available cores). */
  threads?: number;
  /** Write every decision to an audit log (in a temporary folder). */
  audit: boolean;
}

interface Run {
  wallMs: number;
  latencies: number[];
  /** CPU time of the whole process (every thread: server, client worker, llama.cpp) during the run. */
  cpuMs?: number;
}

/** Measure the process's CPU time (all threads) around a run. */
async function withCpu(run: () => Promise<Run>): Promise<Run> {
  const before = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(before);
  return { ...result, cpuMs: (used.user + used.system) / 1000 };
}

/** Run `requests` calls of `call`, `concurrency` at a time; wall time and each call's latency. */
async function load(requests: number, concurrency: number, call: (i: number) => Promise<void>): Promise<Run> {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= requests) return;
        const t = performance.now();
        await call(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { wallMs: performance.now() - started, latencies };
}

function describe(runs: Run[], requests: number) {
  const wallMs = runs.reduce((a, r) => a + r.wallMs, 0);
  const total = requests * runs.length;
  const latency: Summary = summarize(runs.flatMap((r) => r.latencies));
  const cpuMs = runs.reduce((a, r) => a + (r.cpuMs ?? 0), 0);
  return {
    requests: total,
    requestsPerSecond: round(total / (wallMs / 1000)),
    /** Wall time per request: the inverse of throughput. */
    msPerRequest: round(wallMs / total),
    /** CPU time per request, every thread of the process (hardly moved by other processes' load). */
    cpuMsPerRequest: round(cpuMs / total),
    latencyMs: { p50: round(latency.p50), p95: round(latency.p95) },
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export async function benchServeModerations(options: ServeModerationsOptions) {
  let models: Record<string, unknown>;
  let description: string;
  if (options.model === "demo") {
    models = { demo: true };
    description = "demo: the hand-set toy Gen model (1 layer, hidden 32, F32; Qwen3 vocabulary)";
  } else {
    const built = await ensureBenchModel("gen", options.model, options.model === "tiny" ? "f32" : "q8_0");
    models = {
      models: { gen: built.folder },
      engine: { quantization: options.model === "tiny" ? "f32" : "q8_0" },
    };
    description = `synthetic ${options.model}-shaped Gen (random weights, ${options.model === "tiny" ? "F32" : "Q8_0"})`;
  }
  const tmp = path.join(os.tmpdir(), `qwen3guard-bench-serve-${process.pid}`);
  const config = parseServerConfig({
    ...models,
    engine: {
      ...((models.engine as object | undefined) ?? {}),
      cacheDir: benchCacheDir,
      sequences: options.sequences,
      ...(options.threads ? { threads: options.threads } : {}),
    },
    limits: { queueSize: 1024, batchInputs: 64 },
    ...(options.audit ? { audit: { path: path.join(tmp, "audit.sqlite") } } : {}),
    logLevel: "info",
  });
  process.stderr.write(`loading ${description} …\n`);
  const runtime: ServerRuntime = await loadServerRuntime(config, { warn: () => undefined });
  let app: FastifyInstance | undefined;
  try {
    app = await createServer(runtime, { logger: { level: "info", file: "/dev/null" } as never });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/v1/moderations`;
    const levels = [];
    const gen = runtime.gen!;
    const prompts = openaiModerationPrompts()
      .filter((p) => p.length >= 60 && p.length <= 400)
      .slice(0, 64);
    const prompt = (i: number) => prompts[i % prompts.length]!;
    const worker = new Worker(new URL("./serve-client-worker.js", import.meta.url));
    // both paths moderate the same prompts in each round (prompt lengths differ: so does their cost)
    const library = (offset: number) => (i: number) =>
      gen.moderatePrompt(prompt(offset + i)).then(() => undefined);
    const server = (offset: number, requests: number, concurrency: number) =>
      new Promise<Run>((resolve, reject) => {
        const batch: ClientBatch = { url, prompts, offset, requests, concurrency };
        worker.once("message", (r: ClientResult) => (r.error ? reject(new Error(r.error)) : resolve(r)));
        worker.postMessage(batch);
      });
    let offset = 0;
    try {
      // warm both paths (template heads in every sequence, the HTTP connections, JIT)
      await load(8, options.sequences, library(0));
      await server(0, 8, Math.max(...options.concurrency));

      for (const c of options.concurrency) {
        const lib: Run[] = [];
        const srv: Run[] = [];
        for (let r = 0; r < options.rounds; r++) {
          process.stderr.write(`concurrency ${c}, round ${r + 1}/${options.rounds}\n`);
          // alternate which path goes first
          const at = offset;
          offset += options.requests;
          const libRun = () => withCpu(() => load(options.requests, c, library(at)));
          const srvRun = () => withCpu(() => server(at, options.requests, c));
          if (r % 2 === 0) {
            lib.push(await libRun());
            srv.push(await srvRun());
          } else {
            srv.push(await srvRun());
            lib.push(await libRun());
          }
        }
        const l = describe(lib, options.requests);
        const s = describe(srv, options.requests);
        const perRound = srv.map((x, i) => x.wallMs / lib[i]!.wallMs - 1);
        levels.push({
          concurrency: c,
          library: l,
          server: s,
          /** Server time per request over the library's, minus one (0.05 = 5% slower): median of the rounds. */
          overhead: round(median(perRound)),
          /** The same from the totals of every round. */
          overheadOfTotals: round(s.msPerRequest / l.msPerRequest - 1),
          overheadPerRound: perRound.map(round),
          /** CPU time per request, server over library, minus one: the cost of HTTP, JSON and policy. */
          cpuOverhead: round(s.cpuMsPerRequest / l.cpuMsPerRequest - 1),
        });
      }
    } finally {
      await worker.terminate();
    }
    const serial = levels.find((l) => l.concurrency === 1);
    const widest = levels[levels.length - 1]!;
    const maxOverhead = Math.max(...levels.map((l) => l.overhead));
    const maxCpuOverhead = Math.max(...levels.map((l) => l.cpuOverhead));
    return {
      benchmark: "serve-moderations",
      date: new Date().toISOString().slice(0, 10),
      model: description,
      machine: {
        cpu: os.cpus()[0]?.model ?? "unknown",
        cores: os.availableParallelism(),
        loadAverage: os.loadavg().map(round),
      },
      sequences: options.sequences,
      threads: options.threads ?? os.availableParallelism(),
      requestsPerLevel: options.requests * options.rounds,
      audit: options.audit,
      levels,
      ratios: {
        maxOverhead,
        maxCpuOverhead,
        ...(serial
          ? {
              /** Server time per request at the widest concurrency over serial (≤ 1: concurrency pays). */
              widestOverSerial: round(widest.server.msPerRequest / serial.server.msPerRequest),
            }
          : {}),
      },
      targets: {
        "overhead ≤ 10%": maxOverhead <= 0.1,
        ...(serial
          ? {
              [`concurrency ${widest.concurrency} no slower per request than serial`]:
                widest.server.msPerRequest <= serial.server.msPerRequest,
            }
          : {}),
      },
    };
  } finally {
    await app?.close();
    await runtime.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
