/**
 * Concurrent Gen requests: N prompts moderated one by one, then all at once, on the same warm guard (the template
 * heads evaluated; every sequence emptied before each round, so no round reuses another's prompts), with the
 * engine's sharing of template heads and merging of decodes on ("shared"), and with both off ("unshared": each
 * sequence evaluates the head itself, one decode per request step — what the engine did before). Reports wall
 * and CPU time and what the engine evaluated: tokens and decodes are deterministic, timings are not.
 */
import os from "node:os";
import { FfiGenEngine } from "../src/engine/gen/ffi-gen-engine.js";
import { GenGuard } from "../src/guard/gen-guard.js";
import { genGuardInternals } from "../src/guard/internals.js";
import type { Verdict } from "../src/core/verdict.js";
import { benchCacheDir, ensureBenchModel } from "./bench-models.js";
import { openaiModerationPrompts } from "./datasets.js";
import { peakRssBytes, summarize, type Summary } from "./stats.js";
import type { SynthShape } from "../src/model/synth/presets.js";

export interface GenConcurrencyBenchOptions {
  shape: SynthShape;
  /** Prompts per round = sequences of the guard. */
  requests: number;
  /** Rounds of each kind (one by one, all at once) per configuration, alternated. */
  rounds: number;
  /** Prompt length aimed at, in tokens (prompts within ±20% are used). */
  promptTokens: number;
  contextSize: number;
  totalContextSize: number;
  /** Also run with sharing and merging off. */
  unshared: boolean;
  kvCache: "f16" | "f32";
  flashAttention: "auto" | "on" | "off";
}

interface Round {
  wallMs: number;
  cpuMs: number;
  /** Per request, from its call to its verdict. */
  latencyMs: number[];
  tokens: number;
  decodes: number;
  mergedDecodes: number;
  verdicts: { verdict: string; probabilities: number[] }[];
}

interface Totals {
  wallMs: number;
  cpuMs: number;
  perRequestMs: number;
  latencyMs: Summary;
  tokensPerRound: number;
  decodesPerRound: number;
  mergedDecodesPerRound: number;
}

export async function benchGenConcurrency(options: GenConcurrencyBenchOptions) {
  const model = await ensureBenchModel("gen", options.shape, "q8_0");
  const n = options.requests;
  const loadStart = performance.now();
  const guard = await GenGuard.load({
    model: model.folder,
    quantization: "q8_0",
    cacheDir: benchCacheDir,
    contextSize: options.contextSize,
    totalContextSize: options.totalContextSize,
    sequences: n,
    kvCache: options.kvCache,
    flashAttention: options.flashAttention,
  });
  const loadMs = performance.now() - loadStart;
  const { engine, tokenizer } = genGuardInternals(guard);
  if (!(engine instanceof FfiGenEngine))
    throw new Error(`the llama-ffi engine is needed, got ${engine.kind}`);
  try {
    const lo = options.promptTokens * 0.8;
    const hi = options.promptTokens * 1.2;
    const prompts = openaiModerationPrompts()
      .filter((p) => p.length >= lo * 2.5 && p.length <= hi * 6)
      .filter((p) => {
        const k = tokenizer.encode(p, { specials: false }).length;
        return k >= lo && k <= hi;
      })
      .slice(0, n + 1);
    if (prompts.length < n + 1) throw new Error("not enough prompts of the requested length in the dataset");
    const [warmup, ...timed] = prompts as [string, ...string[]];
    // A long-running guard is warm: the template head is evaluated (not counted).
    await guard.moderatePrompt(warmup);

    const round = async (kind: "serial" | "concurrent"): Promise<Round> => {
      await engine.forgetSequences();
      const before = engine.stats;
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      const timedCall = async (p: string) => {
        const s = performance.now();
        const v = await guard.moderatePrompt(p);
        return { v, ms: performance.now() - s };
      };
      let results: { v: Verdict; ms: number }[];
      if (kind === "serial") {
        results = [];
        for (const p of timed) results.push(await timedCall(p));
      } else {
        results = await Promise.all(timed.map(timedCall));
      }
      const wallMs = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      const after = engine.stats;
      return {
        wallMs,
        cpuMs: (used.user + used.system) / 1000,
        latencyMs: results.map((r) => r.ms),
        tokens: after.tokens - before.tokens,
        decodes: after.decodes - before.decodes,
        mergedDecodes: after.mergedDecodes - before.mergedDecodes,
        verdicts: results.map((r) => ({
          verdict: `${r.v.tier} ${r.v.categories.join(",")}`,
          probabilities: Object.values(r.v.probabilities ?? {}),
        })),
      };
    };

    const configs = options.unshared ? (["shared", "unshared"] as const) : (["shared"] as const);
    const rounds: Record<string, Record<"serial" | "concurrent", Round[]>> = {};
    for (const config of configs) rounds[config] = { serial: [], concurrent: [] };
    for (let r = 0; r < options.rounds; r++) {
      for (const config of configs) {
        engine.sharePrefixes = config === "shared";
        engine.mergeDecodes = config === "shared";
        // alternate which kind goes first, so that a drift in the machine's load favours neither
        const kinds = r % 2 === 0 ? (["serial", "concurrent"] as const) : (["concurrent", "serial"] as const);
        for (const kind of kinds) {
          process.stderr.write(`round ${r + 1}/${options.rounds}: ${config}, ${kind} …\n`);
          rounds[config]![kind].push(await round(kind));
        }
      }
    }
    engine.sharePrefixes = true;
    engine.mergeDecodes = true;

    // Every round's verdicts against the first's: the same tier and categories, P(tier) within float noise.
    const reference = rounds.shared!.serial[0]!.verdicts;
    let identical = true;
    let maxProbabilityDiff = 0;
    const agreement: Record<
      string,
      Record<string, { differentVerdicts: number; maxTierProbabilityDiff: number }[]>
    > = {};
    for (const [config, byKind] of Object.entries(rounds)) {
      agreement[config] = {};
      for (const [kind, list] of Object.entries(byKind)) {
        agreement[config]![kind] = list.map((x) => {
          let differentVerdicts = 0;
          let maxDiff = 0;
          x.verdicts.forEach((v, i) => {
            if (v.verdict !== reference[i]!.verdict) differentVerdicts++;
            v.probabilities.forEach((p, k) => {
              maxDiff = Math.max(maxDiff, Math.abs(p - reference[i]!.probabilities[k]!));
            });
          });
          identical &&= differentVerdicts === 0;
          maxProbabilityDiff = Math.max(maxProbabilityDiff, maxDiff);
          return { differentVerdicts, maxTierProbabilityDiff: maxDiff };
        });
      }
    }
    const totals = (list: Round[]): Totals => {
      const sum = (f: (x: Round) => number) => list.reduce((a, x) => a + f(x), 0);
      return {
        wallMs: sum((x) => x.wallMs),
        cpuMs: sum((x) => x.cpuMs),
        perRequestMs: sum((x) => x.wallMs) / (list.length * n),
        latencyMs: summarize(list.flatMap((x) => x.latencyMs)),
        tokensPerRound: sum((x) => x.tokens) / list.length,
        decodesPerRound: sum((x) => x.decodes) / list.length,
        mergedDecodesPerRound: sum((x) => x.mergedDecodes) / list.length,
      };
    };
    const results = Object.fromEntries(
      Object.entries(rounds).map(([config, byKind]) => {
        const serial = totals(byKind.serial);
        const concurrent = totals(byKind.concurrent);
        return [
          config,
          {
            serial,
            concurrent,
            ratios: {
              wallConcurrentOverSerial: concurrent.wallMs / serial.wallMs,
              cpuConcurrentOverSerial: concurrent.cpuMs / serial.cpuMs,
              tokensConcurrentOverSerial: concurrent.tokensPerRound / serial.tokensPerRound,
            },
            // per round: wall and CPU ms, tokens and decodes (the verdicts were compared above)
            rounds: Object.fromEntries(
              Object.entries(byKind).map(([kind, list]) => [
                kind,
                list.map(({ verdicts: _, latencyMs: __, ...rest }) => rest),
              ]),
            ),
          },
        ];
      }),
    );
    return {
      benchmark: "gen-concurrency",
      machine: {
        cpus: os.cpus()[0]?.model ?? "unknown",
        cores: os.availableParallelism(),
        device: guard.info.device,
        loadAverage: os.loadavg(),
      },
      model: {
        shape: options.shape,
        type: "q8_0",
        ggufBytes: model.ggufBytes,
        weights: "random (synthetic)",
      },
      guard: {
        sequences: n,
        contextSize: options.contextSize,
        totalContextSize: engine.totalContextSize,
        kvCache: options.kvCache,
        flashAttention: options.flashAttention,
        loadMs,
        templateHeadTokens: engine.stats.sharedPrefixTokens,
      },
      prompts: {
        source: "openai-moderation-eval-1680",
        count: timed.length,
        meanRenderedTokens:
          timed.reduce((a, p) => a + guard.tokenize([{ role: "user", content: p }]).ids.length, 0) /
          timed.length,
      },
      verdictsIdentical: identical,
      maxTierProbabilityDiff: maxProbabilityDiff,
      /** Each round against the first one-by-one round with sharing and merging. */
      agreement,
      results,
      peakRssBytes: peakRssBytes(),
      targets: {
        wallConcurrentOverSerial: "<= 1.0 (shared)",
        tokensConcurrentOverSerial: "~1.0 (shared)",
      },
    };
  } finally {
    await guard.close();
  }
}
