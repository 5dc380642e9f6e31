/**
 * Stream vs Gen in a streaming setting, as the technical report compares them (https://arxiv.org/abs/2510.14276):
 * an answer is generated token by token and must be moderated while it grows. With Qwen3Guard-Gen the answer so
 * far is re-moderated every `every` tokens (response moderation of the prefix); with Qwen3Guard-Stream every token
 * is judged as it arrives, pushed `chunk` tokens at a time (default: the same cadence), the KV cache kept. Both run
 * on the same answers (real text from data/), on synthetic models of the same backbone shape: weights do not
 * change the cost, so the timings are what the real models cost on this machine (the verdicts mean nothing).
 * Our Gen path keeps the KV state of the longest prefix a request shares with the one before on its sequence, so
 * a re-check evaluates the new answer tokens, the template tail and the verdict; the tokens a Gen path without
 * that reuse (the reference pipeline) would evaluate are reported too.
 * Wall time and this process's CPU time are both reported: on a shared machine the CPU time (with --threads 1)
 * is the steadier measure of the work.
 */
import { genGuardInternals } from "../src/guard/internals.js";
import os from "node:os";
import { GenGuard } from "../src/guard/gen-guard.js";
import { StreamGuard } from "../src/guard/stream-guard.js";
import type { SynthShape } from "../src/model/synth/presets.js";
import { benchCacheDir, ensureBenchModel } from "./bench-models.js";
import { openaiModerationPrompts, xstestCompletions } from "./datasets.js";

export interface StreamVsGenOptions {
  shape: SynthShape;
  /** Answer lengths to compare, in tokens. */
  lengths: number[];
  /** Gen re-moderates the answer every this many tokens. */
  every: number;
  /** Stream push size (tokens). */
  chunk: number;
  /** Compute threads (default: the engine's, the available cores). */
  threads?: number;
}

/** CPU time of this process (user + system), ms: less disturbed than wall time on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const log = (m: string) => process.stderr.write(`${m}\n`);

export async function benchStreamVsGen(options: StreamVsGenOptions) {
  const maxLength = Math.max(...options.lengths);
  const contextSize = Math.max(1024, 2 ** Math.ceil(Math.log2(maxLength + 512)));
  const genModel = await ensureBenchModel("gen", options.shape, "q8_0");
  const streamModel = await ensureBenchModel("stream", options.shape, "q8_0");
  const common = {
    quantization: "q8_0" as const,
    cacheDir: benchCacheDir,
    contextSize,
    sequences: 1,
    ...(options.threads ? { threads: options.threads } : {}),
    logger: (level: string, message: string) => {
      if (level === "error") log(`llama.cpp: ${message}`);
    },
  };
  const gen = await GenGuard.load({ model: genModel.folder, ...common });
  const stream = await StreamGuard.load({ model: streamModel.folder, ...common });
  try {
    const tokenizer = genGuardInternals(gen).tokenizer;
    const prompt = openaiModerationPrompts().find((p) => {
      const n = tokenizer.encode(p, { specials: false }).length;
      return n >= 32 && n <= 48;
    })!;
    // One long answer of real text: XSTest completions, back to back.
    const ids: number[] = [];
    for (const { completion } of xstestCompletions()) {
      ids.push(...tokenizer.encode(completion + "\n\n", { specials: false }));
      if (ids.length >= maxLength) break;
    }
    const answerIds = ids.slice(0, maxLength);
    // warm both (first decodes allocate buffers; the Gen template head is cached once)
    await gen.moderateResponse(prompt, tokenizer.decode(answerIds.slice(0, options.every)));
    const warm = await stream.openStream([{ role: "user", content: prompt }]);
    await warm.pushTokens(answerIds.slice(0, options.chunk));
    await warm.close();

    const results = [];
    for (const length of [...options.lengths].sort((a, b) => a - b)) {
      // Gen: re-moderate the answer so far at every `every` tokens (and at the end).
      const checkpoints: number[] = [];
      for (let k = options.every; k < length; k += options.every) checkpoints.push(k);
      checkpoints.push(length);
      let genMs = 0;
      let genEvaluated = 0;
      let genRendered = 0;
      const c0 = cpuMs();
      const t0 = performance.now();
      for (const k of checkpoints) {
        const v = await gen.moderateResponse(prompt, tokenizer.decode(answerIds.slice(0, k)));
        genEvaluated += v.tokens?.evaluated ?? 0;
        genRendered += (v.tokens?.prompt ?? 0) + (v.tokens?.generated ?? 0);
      }
      genMs = performance.now() - t0;
      const genCpuMs = cpuMs() - c0;
      log(
        `  gen    ${length} tokens: ${checkpoints.length} checks, ${(genMs / 1000).toFixed(1)} s (CPU ${(genCpuMs / 1000).toFixed(1)} s), ${genEvaluated} tokens evaluated (${genRendered} without KV reuse)`,
      );
      // Stream: the prompt once, then every token, `chunk` at a time.
      const c1 = cpuMs();
      const t1 = performance.now();
      const session = await stream.openStream([{ role: "user", content: prompt }]);
      const prefix = session.answerStart;
      for (let at = 0; at < length; at += options.chunk) {
        await session.pushTokens(answerIds.slice(at, Math.min(length, at + options.chunk)));
      }
      await session.end();
      await session.close();
      const streamMs = performance.now() - t1;
      const streamCpuMs = cpuMs() - c1;
      log(
        `  stream ${length} tokens: ${(streamMs / 1000).toFixed(1)} s (CPU ${(streamCpuMs / 1000).toFixed(1)} s), ${prefix + length} tokens evaluated; Gen/Stream ${(genMs / streamMs).toFixed(1)}× wall, ${(genCpuMs / streamCpuMs).toFixed(1)}× CPU`,
      );
      results.push({
        answerTokens: length,
        gen: {
          checks: checkpoints.length,
          ms: genMs,
          cpuMs: genCpuMs,
          evaluatedTokens: genEvaluated,
          // what a Gen path without KV reuse (the reference pipeline) evaluates: every prompt in full, plus the output
          withoutKvReuseTokens: genRendered,
        },
        stream: { ms: streamMs, cpuMs: streamCpuMs, evaluatedTokens: prefix + length },
        ratio: genMs / streamMs,
        cpuRatio: genCpuMs / streamCpuMs,
        evaluatedTokenRatio: genEvaluated / (prefix + length),
        withoutKvReuseTokenRatio: genRendered / (prefix + length),
      });
    }
    return {
      benchmark: "stream-vs-gen",
      machine: { cpus: os.cpus()[0]?.model ?? "unknown", cores: os.availableParallelism() },
      engines: { gen: "llama.cpp (GenGuard)", stream: stream.info.engine },
      model: {
        shape: options.shape,
        type: "q8_0",
        weights: "random (synthetic): timings real, verdicts meaningless",
      },
      setting: {
        promptTokens: tokenizer.encode(prompt, { specials: false }).length,
        genEvery: options.every,
        streamChunk: options.chunk,
        contextSize,
        threads: options.threads ?? "engine default (available cores)",
      },
      results,
    };
  } finally {
    await gen.close();
    await stream.close();
  }
}
