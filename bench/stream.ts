/**
 * Stream benchmark: prompt verdict latency, per-token cost by chunk size, the sustained rate against simulated
 * generators, and the naive per-token cost (re-evaluating the whole sequence for one token, as the reference
 * Python does) at answer positions 16/64/256 against ours at the same positions. 0.6B-shaped synthetic Stream
 * model in Q8_0, random weights: the verdicts are meaningless, the timings are real.
 */
import os from "node:os";
import { StreamGuard } from "../src/guard/stream-guard.js";
import { streamGuardInternals } from "../src/guard/internals.js";
import type { StreamSession } from "../src/guard/stream-session.js";
import { STREAM_ASSISTANT_HEADER } from "../src/core/prompt/stream-prompt.js";
import type { SynthShape } from "../src/model/synth/presets.js";
import { benchModelBuiltApart, benchCacheDir } from "./bench-models.js";
import { openaiModerationPrompts, xstestCompletions } from "./datasets.js";
import { MemoryMonitor } from "./memory.js";
import { kvCacheBytes, modelDims, summarize } from "./stats.js";

export interface StreamBenchOptions {
  shape: SynthShape;
  /** Tokens timed per chunk size. */
  tokensPerChunkSize: number;
  /** Tokens per simulated generator run. */
  generatorTokens: number;
  rates: number[];
  positions: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export async function benchStream(options: StreamBenchOptions) {
  const model = await benchModelBuiltApart("stream", options.shape, "q8_0");
  const contextSize = 1024;
  const sequences = 1;
  const memory = new MemoryMonitor();
  const guard = await StreamGuard.load({
    model: model.folder,
    quantization: "q8_0",
    cacheDir: benchCacheDir,
    contextSize,
    sequences,
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
    logLevel: "info",
    logger: memory.logger,
  });
  memory.phase("load");
  try {
    const { tokenizer, engine } = streamGuardInternals(guard);
    const prompt = openaiModerationPrompts().find((p) => {
      const n = tokenizer.encode(p, { specials: false }).length;
      return n >= 32 && n <= 48;
    })!;
    const answerText = xstestCompletions()
      .map((r) => r.completion)
      .find((c) => tokenizer.encode(c, { specials: false }).length > Math.max(...options.positions) + 8)!;
    const answer = tokenizer.encode(answerText, { specials: false });
    const messages = [{ role: "user" as const, content: prompt }];
    const open = async () => guard.openStream(messages);

    // Warm-up (first decode allocates buffers).
    await (await open()).close();

    // 1. Prompt verdict latency (prompt + assistant header in one decode, query heads read).
    const promptMs: number[] = [];
    let promptTokens = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const s = await open();
      promptMs.push(performance.now() - t0);
      promptTokens = s.prompt.promptTokens;
      await s.close();
    }

    memory.phase("prompt");

    // 2. Per-token cost by chunk size.
    const perChunk: Record<string, ReturnType<typeof summarize>> = {};
    for (const k of [1, 4, 16]) {
      const s = await open();
      const costs: number[] = [];
      for (let at = 0; at + k <= options.tokensPerChunkSize; at += k) {
        const t0 = performance.now();
        await s.pushTokens(answer.slice(at, at + k));
        costs.push((performance.now() - t0) / k);
      }
      perChunk[`chunk${k}`] = summarize(costs);
      await s.close();
    }

    memory.phase("chunks");

    // 3. Sustained rate: a generator emits tokens at a fixed rate; pushes are not awaited (the guard coalesces
    //    whatever arrived while it was busy into one decode). Lag = tokens emitted but not yet judged.
    const sustained = [];
    for (const rate of options.rates) {
      const s = await open();
      const n = options.generatorTokens;
      let judged = 0;
      let maxLag = 0;
      const pending: Promise<unknown>[] = [];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        await sleep(t0 + (i * 1000) / rate - performance.now());
        maxLag = Math.max(maxLag, i - judged);
        pending.push(
          s.pushTokens([answer[i % answer.length]!]).then((v) => {
            judged += (v as unknown[]).length;
          }),
        );
      }
      const emittedAt = performance.now();
      await Promise.all(pending);
      const drainMs = performance.now() - emittedAt;
      const seconds = (performance.now() - t0) / 1000;
      sustained.push({
        generatorTokensPerSecond: rate,
        tokens: n,
        judgedTokensPerSecond: n / seconds,
        maxLagTokens: maxLag,
        drainMsAfterLastToken: drainMs,
        keepsUp: maxLag <= 16 && drainMs < 1000,
      });
      await s.close();
    }

    memory.phase("sustained");

    // 4. Naive (whole sequence re-evaluated for one token) vs ours (one token appended), at answer positions.
    const headerIds = tokenizer.encode(STREAM_ASSISTANT_HEADER, { specials: true });
    const promptIds = guard.promptIds(messages);
    const positions = [];
    for (const p of options.positions) {
      const whole = [...promptIds, ...headerIds, ...answer.slice(0, p + 1)];
      await engine.open(0);
      const t0 = performance.now();
      await engine.decode([{ seq: 0, tokens: whole }]);
      const naiveMs = performance.now() - t0;
      await engine.close(0);
      const s: StreamSession = await open();
      for (let at = 0; at < p; at += 64) await s.pushTokens(answer.slice(at, Math.min(p, at + 64)));
      // Ours: one token appended at position p (median of three consecutive single-token pushes).
      const single: number[] = [];
      for (let k = 0; k < 3; k++) {
        const t1 = performance.now();
        await s.pushTokens([answer[p + k]!]);
        single.push(performance.now() - t1);
      }
      const oursMs = summarize(single).p50;
      await s.close();
      positions.push({
        answerPosition: p,
        sequenceTokens: whole.length,
        naiveMs,
        oursMs,
        ratio: naiveMs / oursMs,
      });
    }

    memory.phase("naive");
    const kv = kvCacheBytes(model.folder, contextSize * sequences);
    const budget = model.ggufBytes + kv + 400 * 1024 * 1024;
    return {
      benchmark: "stream",
      machine: { cpus: os.cpus()[0]?.model ?? "unknown", cores: os.availableParallelism() },
      engine: guard.info.engine,
      model: {
        shape: options.shape,
        type: "q8_0",
        ggufBytes: model.ggufBytes,
        weights: "random (synthetic)",
      },
      promptVerdict: { promptTokens, headerTokens: headerIds.length, latencyMs: summarize(promptMs) },
      perTokenMs: perChunk,
      sustained,
      naiveVsOurs: positions,
      memory: memory.report({
        budgetBytes: budget,
        modelFile: model.gguf,
        modelFileBytes: model.ggufBytes,
        kvCacheBytes: kv,
        // every position is an output: the naive re-evaluation sends the longest decode
        outputRows: Math.max(...positions.map((p) => p.sequenceTokens)),
        ...modelDims(model.folder),
        embeddings: true,
      }),
      targets: {
        sustained: "keeps up with 30 tok/s with at most 16 tokens of lag",
        rss: "<= model file + KV cache + 400 MB",
      },
    };
  } finally {
    await guard.close();
  }
}
