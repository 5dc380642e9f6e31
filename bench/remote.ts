/**
 * Remote Gen against embedded Gen, same model, same run: `qwen3guard serve` processes on loopback (each its own
 * process, one compute thread) serve the synthetic model through `POST /v1/completions`, and guards in this process
 * use them as remote engines (kind "qwen3guard"); the embedded guard runs the same model with one thread too.
 *
 * - Added latency: the same prompts one at a time, embedded and remote alternated, per-request wall time of each
 *   and the difference (HTTP, JSON, the server's queue; the verdict's compute is the same work).
 * - Throughput at concurrency 8: the same requests with 8 in flight, on one backend and on two backends (each a
 *   process with one thread, so two backends use two cores), and embedded (one thread) for reference.
 * - Agreement: every remote verdict against the embedded one (tier, categories, P(tier) difference).
 */
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GenGuard } from "../src/guard/gen-guard.js";
import { genGuardInternals } from "../src/guard/internals.js";
import type { Verdict } from "../src/core/verdict.js";
import { RISK_TIERS } from "../src/core/labels.js";
import type { SynthShape } from "../src/model/synth/presets.js";
import { benchCacheDir, ensureBenchModel } from "./bench-models.js";
import { writeCraftedGenModel } from "../src/model/synth/index.js";
import { openaiModerationPrompts } from "./datasets.js";
import { summarize } from "./stats.js";

export interface RemoteBenchOptions {
  shape: SynthShape;
  /**
   * Use the crafted Gen model (hand-set weights, a trained model's single-path verdicts) instead of a random one of
   * `shape`: on a random model the server's constrained text often departs from the decoder's choices (another
   * tokenization of a label wins), so a verdict takes several requests; on a trained model it takes one.
   */
  crafted: boolean;
  /** Prompts timed one at a time (each embedded and remote). */
  requests: number;
  /** Requests per throughput run. */
  throughputRequests: number;
  concurrency: number;
  promptTokens: number;
}

const ENGINE = { gpu: "cpu", contextSize: 1024, kvCache: "f16", threads: 1 } as const;

/** `qwen3guard serve` of the model (compiled server modules) in a child process, one compute thread. */
async function startServer(model: string, sequences: number): Promise<{ child: ChildProcess; url: string }> {
  const server = (file: string) =>
    JSON.stringify(fileURLToPath(new URL(`../src/server/${file}`, import.meta.url)));
  const config = {
    port: 0,
    models: { gen: model },
    engine: { ...ENGINE, sequences, quantization: "q8_0", cacheDir: benchCacheDir },
    limits: { queueSize: 256, requestTimeoutMs: 600_000 },
    logLevel: "warn",
  };
  const script = `
    const { parseServerConfig } = await import(${server("config.js")});
    const { loadServerRuntime } = await import(${server("runtime.js")});
    const { createServer } = await import(${server("create-server.js")});
    const runtime = await loadServerRuntime(parseServerConfig(${JSON.stringify(config)}), { warn: () => undefined });
    const app = await createServer(runtime, { logger: false });
    await app.listen({ host: "127.0.0.1", port: 0 });
    process.stderr.write("listening on http://127.0.0.1:" + app.server.address().port + "\\n");
    process.once("SIGTERM", async () => { await app.close(); await runtime.close(); process.exit(0); });
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
  });
  return { child, url };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

async function throughput(guard: GenGuard, prompts: readonly string[], concurrency: number) {
  let next = 0;
  const latency: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < prompts.length) {
        const p = prompts[next++]!;
        const s = performance.now();
        await guard.moderatePrompt(p);
        latency.push(performance.now() - s);
      }
    }),
  );
  const wallMs = performance.now() - started;
  return {
    wallMs,
    requestsPerSecond: (prompts.length / wallMs) * 1000,
    latencyMs: summarize(latency),
  };
}

export async function benchRemote(options: RemoteBenchOptions) {
  const log = (line: string) => process.stderr.write(`bench remote: ${line}\n`);
  const model = options.crafted
    ? { folder: writeCraftedGenModel(path.join(benchCacheDir, "gen-crafted")).dir }
    : await ensureBenchModel("gen", options.shape, "q8_0");
  const shape = options.crafted ? "crafted" : options.shape;
  log(`starting two qwen3guard servers (${shape}, one thread each)`);
  const servers = await Promise.all([
    startServer(model.folder, options.concurrency),
    startServer(model.folder, options.concurrency),
  ]);
  const embedded = await GenGuard.load({
    model: model.folder,
    quantization: "q8_0",
    cacheDir: benchCacheDir,
    ...ENGINE,
    sequences: options.concurrency,
  });
  const remote = (urls: string[]) =>
    GenGuard.load({
      model: model.folder,
      cacheDir: benchCacheDir,
      contextSize: ENGINE.contextSize,
      remote: {
        backends: urls.map((url, i) => ({ kind: "qwen3guard" as const, url, name: `server-${i + 1}` })),
        healthIntervalMs: 0,
        timeoutMs: 600_000,
      },
    });
  const one = await remote([servers[0]!.url]);
  const two = await remote(servers.map((s) => s.url));
  try {
    const { tokenizer } = genGuardInternals(embedded);
    const lo = options.promptTokens * 0.7;
    const hi = options.promptTokens * 1.3;
    const pool = openaiModerationPrompts().filter((p) => {
      if (p.length < lo * 2 || p.length > hi * 8) return false;
      const k = tokenizer.encode(p, { specials: false }).length;
      return k >= lo && k <= hi;
    });
    const needed = 2 + options.requests + options.throughputRequests;
    if (pool.length < needed) throw new Error("not enough prompts of the requested length in the dataset");
    const [w1, w2, ...rest] = pool.slice(0, needed) as [string, string, ...string[]];
    const timed = rest.slice(0, options.requests);
    const load = rest.slice(options.requests);
    // warm every path (template heads, buffers, connections)
    for (const g of [embedded, one, two]) {
      await g.moderatePrompt(w1);
      await g.moderatePrompt(w2);
    }
    await two.moderatePrompt(w1);

    log(`added latency: ${timed.length} prompts one at a time, embedded and remote alternated`);
    const embeddedMs: number[] = [];
    const remoteMs: number[] = [];
    const addedMs: number[] = [];
    const remoteRequests: number[] = [];
    let agree = 0;
    let worstP = 0;
    const compare = (r: Verdict, e: Verdict) => {
      if (r.tier === e.tier && r.categories.join() === e.categories.join()) agree++;
      if (r.probabilities && e.probabilities)
        for (const t of RISK_TIERS)
          worstP = Math.max(worstP, Math.abs(r.probabilities[t] - e.probabilities[t]));
    };
    for (const [i, p] of timed.entries()) {
      // alternate which goes first, so that a drift in the machine's load favours neither
      const order = i % 2 === 0 ? (["e", "r"] as const) : (["r", "e"] as const);
      const got: Partial<Record<"e" | "r", { v: Verdict; ms: number }>> = {};
      for (const which of order) {
        const s = performance.now();
        const v = await (which === "e" ? embedded : one).moderatePrompt(p);
        got[which] = { v, ms: performance.now() - s };
      }
      embeddedMs.push(got.e!.ms);
      remoteMs.push(got.r!.ms);
      remoteRequests.push(got.r!.v.remote?.requests ?? 0);
      addedMs.push(got.r!.ms - got.e!.ms);
      compare(got.r!.v, got.e!.v);
    }

    log(`throughput: ${load.length} requests, ${options.concurrency} in flight`);
    const runs = {
      embedded: await throughput(embedded, load, options.concurrency),
      oneBackend: await throughput(one, load, options.concurrency),
      twoBackends: await throughput(two, load, options.concurrency),
    };
    const perBackend = genGuardInternals(two)
      .remote!.pool.stats()
      .map((s) => ({ name: s.name, requests: s.requests }));
    const requestsPerVerdict = remoteRequests.length > 0 ? summarize(remoteRequests) : undefined;
    return {
      shape,
      requestsPerVerdict,
      cores: os.availableParallelism(),
      threadsPerEngine: ENGINE.threads,
      promptTokens: options.promptTokens,
      latency: {
        requests: timed.length,
        embeddedMs: summarize(embeddedMs),
        remoteMs: summarize(remoteMs),
        addedMs: summarize(addedMs),
      },
      agreement: {
        verdicts: timed.length,
        sameTierAndCategories: agree,
        largestProbabilityDifference: worstP,
      },
      throughput: {
        concurrency: options.concurrency,
        requests: load.length,
        embeddedRps: runs.embedded.requestsPerSecond,
        oneBackendRps: runs.oneBackend.requestsPerSecond,
        twoBackendsRps: runs.twoBackends.requestsPerSecond,
        twoOverOne: runs.twoBackends.requestsPerSecond / runs.oneBackend.requestsPerSecond,
        latencyMs: {
          embedded: runs.embedded.latencyMs,
          oneBackend: runs.oneBackend.latencyMs,
          twoBackends: runs.twoBackends.latencyMs,
        },
        twoBackendsSplit: perBackend,
      },
    };
  } finally {
    await one.close();
    await two.close();
    await embedded.close();
    for (const s of servers) await stop(s.child);
  }
}
