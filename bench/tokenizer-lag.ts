/**
 * Incremental tokenizer lag benchmark: how long unspaced text waits for its ids, and what that costs in
 * fidelity and time. On the CJK, Thai and Korean prompts of the RTP-LX sample with whitespace, punctuation and
 * symbols removed (`\s`, `\p{P}`, `\p{S}`: each prompt becomes one run of letters and digits, the worst case
 * for a tokenizer that holds the last pre-tokenizer piece), each prompt and the concatenation of all of them are
 * pushed one character at a time and in random chunks of 1-16 characters:
 *
 * - identity: the share of one-shot `tokenizer.encode(text)` tokens found, with the same id, at the same UTF-8
 *   byte offset of the incremental output (a token the incremental output splits or merges differently counts
 *   as lost, and the tokens after it still count when they realign);
 * - held: characters held back after each push (max, mean, p99), against the hard bound MAX_HELD_CHARS;
 * - linearity: time and `processedChars` per character for 1k, 10k and 100k characters pushed one at a time.
 *
 * No model is needed; the Qwen3 tokenizer is the bundled one.
 */
import fs from "node:fs";
import path from "node:path";
import {
  MAX_HELD_CHARS,
  STABLE_MARGIN_BYTES,
  STABLE_MARGIN_TOKENS,
  loadBundledQwen3Tokenizer,
  type QwenTokenizer,
} from "../src/model/tokenizer/index.js";
import { datasetsDir } from "./datasets.js";
import { summarize } from "./stats.js";

export interface TokenizerLagOptions {
  /** RTP-LX locales (the `locale` field; ZH holds both Simplified and Traditional rows). */
  locales: string[];
  /** Lengths (characters) for the linearity measurement. */
  lengths: number[];
  seed: number;
}

/** What is removed from the text: whitespace, punctuation, symbols. */
export const STRIPPED = /[\s\p{P}\p{S}]/gu;

function rtpLxRows(): { locale: string; prompt: string }[] {
  return fs
    .readFileSync(path.join(datasetsDir, "rtp-lx-26-locales-sample.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { locale: string; prompt: string });
}

/** Seeded PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function chunksOf(text: string, mode: "char" | "random", rnd: () => number): string[] {
  if (mode === "char") return text.split("");
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + Math.floor(rnd() * 16);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Tokens of `expected` found with the same id at the same byte offset in `got`. */
function alignedTokens(tok: QwenTokenizer, expected: readonly number[], got: readonly number[]): number {
  const spans = (ids: readonly number[]) => {
    const set = new Set<string>();
    let at = 0;
    for (const id of ids) {
      set.add(`${at}:${id}`);
      at += tok.tokenToBytes(id).length;
    }
    return set;
  };
  const have = spans(got);
  let same = 0;
  for (const s of spans(expected)) if (have.has(s)) same++;
  return same;
}

interface Tally {
  texts: number;
  characters: number;
  tokens: number;
  identicalTokens: number;
  forcedCuts: number;
  held: number[];
}

function streamText(tok: QwenTokenizer, text: string, chunks: readonly string[], tally: Tally): void {
  const inc = tok.createIncremental();
  const ids: number[] = [];
  for (const c of chunks) {
    for (const id of inc.push(c)) ids.push(id);
    tally.held.push(inc.heldChars);
  }
  tally.forcedCuts += inc.forcedCuts;
  for (const id of inc.flush()) ids.push(id);
  if (tok.decode(ids) !== text.normalize("NFC"))
    throw new Error("the incremental ids do not decode to the text");
  const expected = tok.encode(text, { specials: false });
  tally.texts++;
  tally.characters += text.length;
  tally.tokens += expected.length;
  tally.identicalTokens += alignedTokens(tok, expected, ids);
}

function report(t: Tally) {
  const held = summarize(t.held);
  const sorted = [...t.held].sort((a, b) => a - b);
  return {
    texts: t.texts,
    characters: t.characters,
    tokens: t.tokens,
    identicalTokens: t.identicalTokens,
    identityPercent: (100 * t.identicalTokens) / t.tokens,
    forcedCuts: t.forcedCuts,
    heldChars: {
      max: held.max,
      mean: held.mean,
      p50: held.p50,
      p99: sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] ?? NaN,
    },
    withinBound: held.max <= MAX_HELD_CHARS,
  };
}

export function benchTokenizerLag(options: TokenizerLagOptions) {
  const tok = loadBundledQwen3Tokenizer();
  const rows = rtpLxRows();
  const rnd = prng(options.seed);
  const sets: Record<string, string[]> = {};
  for (const locale of options.locales) {
    sets[locale] = rows
      .filter((r) => r.locale === locale)
      .map((r) => r.prompt.replace(STRIPPED, ""))
      .filter((t) => t.length > 0);
    if (sets[locale].length === 0) throw new Error(`no RTP-LX rows for locale ${JSON.stringify(locale)}`);
  }
  const all = Object.values(sets).flat();
  const concatenated = all.join("");

  const fidelity: Record<string, Record<string, ReturnType<typeof report>>> = {};
  const total: Record<string, Tally> = {};
  for (const mode of ["char", "random"] as const) {
    const totalTally: Tally = {
      texts: 0,
      characters: 0,
      tokens: 0,
      identicalTokens: 0,
      forcedCuts: 0,
      held: [],
    };
    for (const [locale, texts] of Object.entries(sets)) {
      const tally: Tally = {
        texts: 0,
        characters: 0,
        tokens: 0,
        identicalTokens: 0,
        forcedCuts: 0,
        held: [],
      };
      for (const text of texts) streamText(tok, text, chunksOf(text, mode, rnd), tally);
      (fidelity[locale] ??= {})[mode] = report(tally);
      totalTally.texts += tally.texts;
      totalTally.characters += tally.characters;
      totalTally.tokens += tally.tokens;
      totalTally.identicalTokens += tally.identicalTokens;
      totalTally.forcedCuts += tally.forcedCuts;
      totalTally.held.push(...tally.held);
    }
    const one: Tally = { texts: 0, characters: 0, tokens: 0, identicalTokens: 0, forcedCuts: 0, held: [] };
    streamText(tok, concatenated, chunksOf(concatenated, mode, rnd), one);
    (fidelity["concatenated"] ??= {})[mode] = report(one);
    total[mode] = totalTally;
  }

  // Linearity: one character per push, the concatenation repeated to each length.
  const linearity = options.lengths.map((length) => {
    let text = concatenated;
    while (text.length < length) text += concatenated;
    text = text.slice(0, length);
    const repeats = Math.max(1, Math.round(Math.max(...options.lengths) / length / 10));
    const perChar: number[] = [];
    let work = 0;
    let maxHeld = 0;
    for (let r = 0; r < repeats; r++) {
      const inc = tok.createIncremental();
      const t0 = performance.now();
      for (let i = 0; i < text.length; i++) {
        inc.push(text[i]!);
        if (inc.heldChars > maxHeld) maxHeld = inc.heldChars;
      }
      work = inc.processedChars;
      inc.flush();
      perChar.push(((performance.now() - t0) * 1000) / length);
    }
    return {
      characters: length,
      runs: repeats,
      microsecondsPerChar: summarize(perChar).p50,
      processedCharsPerChar: work / length,
      maxHeldChars: maxHeld,
    };
  });
  const first = linearity[0]!;
  const last = linearity[linearity.length - 1]!;

  return {
    bench: "tokenizer-lag",
    data: "data/datasets/rtp-lx-26-locales-sample.jsonl, whitespace, punctuation and symbols removed",
    bound: {
      maxHeldChars: MAX_HELD_CHARS,
      stableMarginBytes: STABLE_MARGIN_BYTES,
      stableMarginTokens: STABLE_MARGIN_TOKENS,
    },
    fidelity,
    overall: { char: report(total.char!), random: report(total.random!) },
    linearity,
    linearityRatio: {
      lengths: [first.characters, last.characters],
      timePerChar: last.microsecondsPerChar / first.microsecondsPerChar,
      workPerChar: last.processedCharsPerChar / first.processedCharsPerChar,
      note: "1 for linear time; a quadratic tokenizer gives the ratio of the lengths",
    },
  };
}
