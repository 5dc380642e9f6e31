/**
 * How many concurrent Stream sessions one machine keeps up with: N sessions, each fed by a simulated generator at a
 * fixed rate (pushes not awaited: the guard batches whatever arrived into one decode across sessions), for N in a
 * list. A session keeps up when it is never more than 16 tokens behind its generator and its last verdict comes
 * within a second of its last token. The figure that sizes a deployment: the most sessions that all keep up, per
 * compute thread (= per core, with one thread per core).
 */
import { StreamGuard } from "../src/guard/stream-guard.js";
import { streamGuardInternals } from "../src/guard/internals.js";
import type { SynthShape } from "../src/model/synth/presets.js";
import { benchCacheDir, ensureBenchModel } from "./bench-models.js";
import { openaiModerationPrompts, xstestCompletions } from "./datasets.js";

export interface StreamCapacityBenchOptions {
  shape: SynthShape;
  sessions: number[];
  /** Tokens per second each generator emits. */
  rate: number;
  /** Tokens per session. */
  tokens: number;
  threads: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const MAX_LAG = 16;

export async function benchStreamCapacity(options: StreamCapacityBenchOptions) {
  const model = await ensureBenchModel("stream", options.shape, "q8_0");
  const most = Math.max(...options.sessions);
  const guard = await StreamGuard.load({
    model: model.folder,
    quantization: "q8_0",
    cacheDir: benchCacheDir,
    contextSize: 512,
    sequences: most,
    threads: options.threads,
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
  });
  try {
    const { tokenizer } = streamGuardInternals(guard);
    const prompts = openaiModerationPrompts()
      .filter((p) => {
        const n = tokenizer.encode(p, { specials: false }).length;
        return n >= 24 && n <= 48;
      })
      .slice(0, most);
    const answer = tokenizer.encode(
      xstestCompletions()
        .map((r) => r.completion)
        .join(" "),
      { specials: false },
    );
    // warm-up
    await (await guard.openStream([{ role: "user", content: prompts[0]! }])).close();
    const runs = [];
    for (const n of options.sessions) {
      process.stderr.write(`bench stream-capacity: ${n} session(s) at ${options.rate} tok/s …\n`);
      const sessions = await Promise.all(
        prompts.slice(0, n).map((p) => guard.openStream([{ role: "user", content: p }])),
      );
      const decodesBefore = guard.stats.decodes;
      const t0 = performance.now();
      const results = await Promise.all(
        sessions.map(async (s, k) => {
          let judged = 0;
          let maxLag = 0;
          const pending: Promise<unknown>[] = [];
          // generators start spread over one token interval
          const start = t0 + (k * 1000) / options.rate / n;
          for (let i = 0; i < options.tokens; i++) {
            await sleep(start + (i * 1000) / options.rate - performance.now());
            maxLag = Math.max(maxLag, i - judged);
            const token = answer[(k * 97 + i) % answer.length]!;
            pending.push(
              s.pushTokens([token]).then((v) => {
                judged += v.length;
              }),
            );
          }
          const last = performance.now();
          await Promise.all(pending);
          return { maxLag, drainMs: performance.now() - last };
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      const decodes = guard.stats.decodes - decodesBefore;
      for (const s of sessions) await s.close();
      const worstLag = Math.max(...results.map((r) => r.maxLag));
      const worstDrain = Math.max(...results.map((r) => r.drainMs));
      runs.push({
        sessions: n,
        judgedTokensPerSecond: (n * options.tokens) / seconds,
        worstLagTokens: worstLag,
        worstDrainMs: Math.round(worstDrain),
        tokensPerDecode: (n * options.tokens) / decodes,
        keepsUp: worstLag <= MAX_LAG && worstDrain < 1000,
      });
    }
    const kept = runs.filter((r) => r.keepsUp).map((r) => r.sessions);
    const best = kept.length > 0 ? Math.max(...kept) : 0;
    return {
      shape: options.shape,
      engine: guard.info.engine,
      threads: options.threads,
      rate: options.rate,
      tokensPerSession: options.tokens,
      runs,
      mostSessionsKeepingUp: best,
      sessionsPerThread: best / options.threads,
      criterion: `every session at most ${MAX_LAG} tokens behind its generator, its last verdict within 1 s`,
    };
  } finally {
    await guard.close();
  }
}
