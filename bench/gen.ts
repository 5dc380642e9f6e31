/**
 * Gen benchmark: our path (template-head KV reuse, tier from one distribution, constrained decode) against the
 * naive path a plain llama.cpp server user gets (whole prompt re-prefilled, unconstrained greedy decode of as many
 * output tokens), in the same process on the same model, plus the unavoidable work (the prefill of what follows
 * the template head, timed on the same warm state for each prompt, plus one decode step). The model is a
 * 0.6B-shaped synthetic checkpoint with random weights: the verdicts are meaningless, the timings are real.
 */
import os from "node:os";
import { GenGuard } from "../src/guard/gen-guard.js";
import { genGuardInternals } from "../src/guard/internals.js";
import { benchCacheDir, benchModelBuiltApart } from "./bench-models.js";
import { openaiModerationPrompts } from "./datasets.js";
import { MemoryMonitor } from "./memory.js";
import { kvCacheBytes, modelDims, summarize, type Summary } from "./stats.js";
import type { SynthShape } from "../src/model/synth/presets.js";

export interface GenBenchOptions {
  shape: SynthShape;
  requests: number;
  naiveRequests: number;
  /** Prompt length aimed at, in tokens (prompts within ±20% are used). */
  promptTokens: number;
}

export async function benchGen(options: GenBenchOptions) {
  const model = await benchModelBuiltApart("gen", options.shape, "q8_0");
  const contextSize = 2048;
  const sequences = 1;
  const memory = new MemoryMonitor();
  const guard = await GenGuard.load({
    model: model.folder,
    quantization: "q8_0",
    cacheDir: benchCacheDir,
    contextSize,
    sequences,
    logLevel: "info",
    logger: memory.logger,
  });
  memory.phase("load");
  const { engine, tokenizer } = genGuardInternals(guard);
  try {
    const lo = options.promptTokens * 0.8;
    const hi = options.promptTokens * 1.2;
    // The first requests + 1 prompts of the right length, in the data set's order. ~4 characters a token in
    // English: tokenize only plausible candidates, and stop once there are enough (tokenizing all ~500 of them
    // was work no guard does, in the process whose memory is measured).
    const prompts: string[] = [];
    for (const p of openaiModerationPrompts()) {
      if (prompts.length === options.requests + 1) break;
      if (p.length < lo * 2.5 || p.length > hi * 6) continue;
      const n = tokenizer.encode(p, { specials: false }).length;
      if (n >= lo && n <= hi) prompts.push(p);
    }
    if (prompts.length < 2) throw new Error("not enough prompts of the requested length in the dataset");
    memory.phase("prompts");

    // Prefill rate of a fresh 256-token prompt (for reference) and one decode step.
    const probe = tokenizer.encode(prompts.join("\n"), { specials: false }).slice(0, 256);
    const rate = await engine.withSequence(
      probe,
      async (tail, lease) => {
        const t0 = performance.now();
        await lease.evaluateOnly(tail);
        const prefillMs = performance.now() - t0;
        const t1 = performance.now();
        await lease.evaluateOnly([probe[0]!]);
        return {
          prefillTokensPerSecond: tail.length / (prefillMs / 1000),
          decodeStepMs: performance.now() - t1,
        };
      },
      { reuse: false },
    );
    memory.phase("probe");

    // Ours: the first request warms the template head (not counted), as a long-running guard is warm.
    await guard.moderatePrompt(prompts[0]!);
    const ours: {
      ms: number;
      userTokens: number;
      decisions: number;
      promptTokens: number;
      tailTokens: number;
      generated: number;
      unavoidableMs: number;
      tailPrefillTokensPerSecond: number;
    }[] = [];
    // The template head: what every prompt moderation shares before the conversation.
    const idsOf = (prompt: string) => guard.tokenize([{ role: "user", content: prompt }]).ids;
    const headLength = sharedPrefix(idsOf(prompts[0]!), idsOf(prompts[1]!));
    for (const prompt of prompts.slice(1)) {
      const ids = idsOf(prompt);
      const t0 = performance.now();
      const v = await guard.moderatePrompt(prompt);
      const ms = performance.now() - t0;
      // Unavoidable work, measured on the same warm state: trim the sequence back to the template head, time the
      // prefill of the conversation and template tail, add one decode step.
      await engine.withSequence(ids.slice(0, headLength + 1), async () => undefined);
      const prefillMs = await engine.withSequence(ids, async (tail, lease) => {
        const t1 = performance.now();
        await lease.evaluateOnly(tail);
        return performance.now() - t1;
      });
      const tail = ids.length - headLength;
      ours.push({
        ms,
        userTokens: tokenizer.encode(prompt, { specials: false }).length,
        decisions: v.tokens!.evaluations - 1,
        promptTokens: v.tokens!.prompt,
        tailTokens: tail,
        generated: v.tokens!.generated,
        unavoidableMs: prefillMs + rate.decodeStepMs,
        tailPrefillTokensPerSecond: tail / (prefillMs / 1000),
      });
    }

    memory.phase("ours");

    // Naive: re-prefill the whole prompt, greedy-decode as many tokens as our output had.
    const naive: { ms: number; promptTokens: number }[] = [];
    for (const [i, prompt] of prompts.slice(1, 1 + options.naiveRequests).entries()) {
      const { ids } = guard.tokenize([{ role: "user", content: prompt }], { mode: "reference" });
      const outTokens = ours[i]!.generated;
      const t0 = performance.now();
      await engine.withSequence(
        ids,
        (tail, lease) => lease.generateGreedy(tail, outTokens, { stopAtEog: false }),
        {
          reuse: false,
        },
      );
      naive.push({ ms: performance.now() - t0, promptTokens: ids.length });
    }
    memory.phase("naive");

    const oursSummary: Summary = summarize(ours.map((r) => r.ms));
    const naiveSummary: Summary = summarize(naive.map((r) => r.ms));
    const unavoidable = summarize(ours.map((r) => r.unavoidableMs));
    const ratioToUnavoidable = summarize(ours.map((r) => r.ms / r.unavoidableMs));
    const kv = kvCacheBytes(model.folder, contextSize * sequences);
    const budgetBytes = model.ggufBytes + kv + 300 * 1024 * 1024;
    return {
      benchmark: "gen",
      machine: {
        cpus: os.cpus()[0]?.model ?? "unknown",
        cores: os.availableParallelism(),
        device: guard.info.device,
      },
      model: {
        shape: options.shape,
        type: "q8_0",
        ggufBytes: model.ggufBytes,
        weights: "random (synthetic)",
      },
      prompts: {
        source: "openai-moderation-eval-1680",
        count: ours.length,
        meanUserTokens: mean(ours.map((r) => r.userTokens)),
        meanRenderedTokens: mean(ours.map((r) => r.promptTokens)),
      },
      engine: { ...rate, tailPrefillTokensPerSecond: mean(ours.map((r) => r.tailPrefillTokensPerSecond)) },
      ours: {
        latencyMs: oursSummary,
        meanEvaluatedTokens: mean(ours.map((r) => r.tailTokens)),
        meanOutputTokens: mean(ours.map((r) => r.generated)),
        // Engine evaluations after the prompt's: one per choice the format leaves open (first category, then
        // "," or end after each named category, and each further category).
        meanDecisionEvaluations: mean(ours.map((r) => r.decisions)),
        renderedTokensPerSecond: mean(ours.map((r) => r.promptTokens / (r.ms / 1000))),
      },
      naive: {
        latencyMs: naiveSummary,
        renderedTokensPerSecond: mean(naive.map((r) => r.promptTokens / (r.ms / 1000))),
      },
      unavoidableMs: unavoidable,
      ratios: {
        naiveOverOursP50: naiveSummary.p50 / oursSummary.p50,
        /** The best any implementation could reach: naive over the unavoidable work. */
        naiveOverUnavoidableP50: naiveSummary.p50 / unavoidable.p50,
        oursOverUnavoidableP50: ratioToUnavoidable.p50,
        oursOverUnavoidableMax: ratioToUnavoidable.max,
      },
      memory: memory.report({
        budgetBytes,
        modelFile: model.gguf,
        modelFileBytes: model.ggufBytes,
        kvCacheBytes: kv,
        // a decode reads the logits of its last token, or of up to 4 when the fast decode speculates
        outputRows: 4 * sequences,
        ...modelDims(model.folder),
        embeddings: false,
      }),
      targets: {
        naiveOverOurs: ">= 3",
        oursOverUnavoidable: "<= 1.2",
        rss: "<= model file + KV cache + 300 MB",
      },
    };
  } finally {
    await guard.close();
  }
}

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}
