/**
 * The incremental tokenizer's lag is bounded: long unspaced runs (CJK, Thai, crafted input) are released
 * within MAX_HELD_CHARS characters, in linear time, with ids that still match one-shot tokenization on real
 * text (>= 99.9 % of tokens).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import fc from "fast-check";
import {
  MAX_HELD_CHARS,
  STABLE_MARGIN_BYTES,
  TokenizerUsageError,
  loadBundledQwen3Tokenizer,
} from "../../src/model/tokenizer/index.js";
import { splitPieces } from "../../src/model/tokenizer/pre-tokenizer.js";
import { dataFile } from "../helpers/repo-data.js";
import { seededRandom } from "../helpers/seeded-random.js";

const tok = loadBundledQwen3Tokenizer();
const utf8 = new TextEncoder();

/** RTP-LX prompts of the given locales with whitespace, punctuation and symbols removed (`\s`, `\p{P}`, `\p{S}`). */
function unpunctuated(locales: readonly string[]): { locale: string; text: string }[] {
  return fs
    .readFileSync(dataFile("datasets", "rtp-lx-26-locales-sample.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as { locale: string; prompt: string })
    .filter((row) => locales.includes(row.locale))
    .map((row) => ({ locale: row.locale, text: row.prompt.replace(/[\s\p{P}\p{S}]/gu, "") }))
    .filter((row) => row.text.length > 0);
}

/** The tokens (byte offset, id) of an id sequence. */
function tokenSpans(ids: readonly number[]): Set<string> {
  const spans = new Set<string>();
  let at = 0;
  for (const id of ids) {
    spans.add(`${at}:${id}`);
    at += tok.tokenToBytes(id).length;
  }
  return spans;
}

/** How many tokens of `expected` appear at the same byte offset in `got`. */
function sameTokens(expected: readonly number[], got: readonly number[]): number {
  const spans = tokenSpans(got);
  let same = 0;
  for (const span of tokenSpans(expected)) if (spans.has(span)) same++;
  return same;
}

interface Streamed {
  ids: number[];
  /** Most characters held after a push. */
  maxHeld: number;
  /** Most characters pushed but not yet covered by the ids returned, after a push (counted from the ids). */
  maxUnreleased: number;
  /** Cuts the hard bound forced. */
  forced: number;
}

/**
 * Push `chunks` one by one, checking after each push that at most `bound` characters are held and not yet
 * released. Stops at the first violation (the old tokenizer held everything until flush).
 */
function stream(chunks: readonly string[], bound = MAX_HELD_CHARS, inc = tok.createIncremental()): Streamed {
  const ids: number[] = [];
  const decoder = new TextDecoder();
  const whole = chunks.join("");
  // Where normalization changes the text, count pushed characters after normalization.
  const normalizes = whole !== whole.normalize("NFC");
  let prefix = "";
  let pushed = 0;
  let released = 0;
  let maxHeld = 0;
  let maxUnreleased = 0;
  for (const chunk of chunks) {
    const out = inc.push(chunk);
    ids.push(...out);
    if (normalizes) {
      prefix += chunk;
      pushed = prefix.normalize("NFC").length;
    } else {
      pushed += chunk.length;
    }
    for (const id of out) released += decoder.decode(tok.tokenToBytes(id), { stream: true }).length;
    maxHeld = Math.max(maxHeld, inc.heldChars);
    maxUnreleased = Math.max(maxUnreleased, pushed - released);
    if (maxHeld > bound || maxUnreleased > bound) break;
  }
  const forced = inc.forcedCuts;
  ids.push(...inc.flush());
  return { ids, maxHeld, maxUnreleased, forced };
}

function repeatTo(text: string, length: number): string {
  let out = text;
  while (out.length < length) out += text;
  return out.slice(0, length);
}

test("100,000 unpunctuated CJK characters pushed one at a time: bounded held text, linear work", () => {
  const source = unpunctuated(["ZH", "JA"])
    .map((r) => r.text)
    .join("");
  assert.ok(/^[\p{L}\p{N}]+$/u.test(source));
  const work = (length: number): { streamed: Streamed; work: number; text: string } => {
    const text = repeatTo(source, length);
    const inc = tok.createIncremental();
    let work = 0;
    const push = inc.push.bind(inc);
    inc.push = (chunk) => {
      const ids = push(chunk);
      work = inc.processedChars; // flush resets the count
      return ids;
    };
    return { streamed: stream(text.split(""), MAX_HELD_CHARS, inc), work, text };
  };
  const small = work(10_000);
  const large = work(100_000);
  for (const { streamed, text } of [small, large]) {
    assert.ok(streamed.maxHeld <= MAX_HELD_CHARS, `held ${streamed.maxHeld} characters`);
    assert.ok(streamed.maxUnreleased <= MAX_HELD_CHARS, `${streamed.maxUnreleased} characters had no id yet`);
    assert.equal(tok.decode(streamed.ids), text);
    const expected = tok.encode(text, { specials: false });
    assert.ok(sameTokens(expected, streamed.ids) / expected.length >= 0.999);
  }
  assert.ok(small.work > 0);
  const ratio = large.work / small.work;
  assert.ok(ratio < 12, `10x the text cost ${ratio.toFixed(1)}x the work (linear: 10, quadratic: 100)`);
  assert.ok(
    large.work / 100_000 < 3 * MAX_HELD_CHARS,
    `${large.work / 100_000} characters of work per character`,
  );
});

test("RTP-LX CJK and Thai text without whitespace and punctuation: >= 99.9 % of tokens as one-shot, lag bounded", () => {
  const rows = unpunctuated(["ZH", "JA", "TH", "KO"]);
  const whole = rows.map((r) => r.text).join("");
  const rnd = seededRandom(11);
  let same = 0;
  let total = 0;
  let maxHeld = 0;
  for (const text of [...rows.map((r) => r.text), whole]) {
    const expected = tok.encode(text, { specials: false });
    const byChar = text.split("");
    const random: string[] = [];
    for (let i = 0; i < text.length;) {
      const n = 1 + Math.floor(rnd() * 16);
      random.push(text.slice(i, i + n));
      i += n;
    }
    for (const chunks of [byChar, random]) {
      const s = stream(chunks);
      maxHeld = Math.max(maxHeld, s.maxHeld, s.maxUnreleased);
      assert.ok(maxHeld <= MAX_HELD_CHARS, `held up to ${maxHeld} characters`);
      assert.equal(tok.decode(s.ids), text.normalize("NFC"));
      same += sameTokens(expected, s.ids);
      total += expected.length;
    }
  }
  assert.ok(same / total >= 0.999, `${same}/${total} tokens identical`);
  assert.ok(total > 10_000);
});

test("crafted runs cannot hold text past the bound; a forced cut stays inside its run", () => {
  const cases: [string, string][] = [
    ["spaces", " ".repeat(600)],
    ["newlines and spaces", "\n \t\r\n".repeat(120)],
    ["equals signs", "=".repeat(600)],
    ["stacked combining marks", "a" + "\u0301\u0316\u0334\u0345".repeat(150)],
    ["emoji", "😀👍🏽🇯🇵".repeat(60)],
    ["decomposed Hangul", "\u1100\u1161\u11a8".repeat(200)],
    ["Latin letters", "abcdefghijklmnopqrstuvwxyz".repeat(25)],
  ];
  for (const [name, run] of cases) {
    for (const bound of [MAX_HELD_CHARS, 16]) {
      const text = `x ${run} hello world, fine.`;
      const s = stream(text.split(""), bound, tok.createIncremental({ maxHeldChars: bound }));
      assert.ok(s.maxHeld <= bound, `${name}, bound ${bound}: held ${s.maxHeld}`);
      assert.ok(s.maxUnreleased <= bound, `${name}, bound ${bound}: ${s.maxUnreleased} unreleased`);
      const expected = tok.encode(text, { specials: false });
      // Canonically equivalent text (a forced cut in stacked marks normalizes the two sides apart) ...
      assert.equal(tok.decode(s.ids).normalize("NFC"), text.normalize("NFC"), name);
      // ... and the ids of the text after the run are those of one-shot tokenization.
      const after = tok.encode(" hello world, fine.", { specials: false });
      assert.deepEqual(s.ids.slice(-after.length), expected.slice(-after.length), name);
    }
  }
});

test("a bound given to createIncremental is validated", () => {
  for (const bad of [0, 15, 20.5, Number.NaN, -64]) {
    assert.throws(() => tok.createIncremental({ maxHeldChars: bad }), TokenizerUsageError);
  }
  assert.equal(tok.createIncremental().maxHeldChars, MAX_HELD_CHARS);
  assert.equal(tok.createIncremental({ maxHeldChars: 200 }).maxHeldChars, 200);
});

const PARTS = [
  "中",
  "文字",
  "日本語",
  "ひらがな",
  "ก",
  "ี่",
  "한국어",
  "a",
  "Bc",
  " ",
  "\n",
  "!",
  "。",
  "1",
  "😀",
  "\u0301",
  "é",
];

test("text with no piece longer than the stable margin streams to its one-shot ids unless a cut was forced", () => {
  let exact = 0;
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...PARTS), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.constantFrom(16, 24, MAX_HELD_CHARS),
      (parts, seed, bound) => {
        const text = parts.join("");
        const pieces = splitPieces(text.normalize("NFC"));
        fc.pre(pieces.every((p) => utf8.encode(p).length <= STABLE_MARGIN_BYTES));
        const rnd = seededRandom(seed);
        const chunks: string[] = [];
        for (let i = 0; i < text.length;) {
          const n = 1 + Math.floor(rnd() * 5);
          chunks.push(text.slice(i, i + n));
          i += n;
        }
        const s = stream(chunks, bound, tok.createIncremental({ maxHeldChars: bound }));
        assert.ok(s.maxHeld <= bound);
        if (s.forced > 0) return;
        exact++;
        assert.deepEqual(s.ids, tok.encode(text, { specials: false }), JSON.stringify(text));
      },
    ),
    { seed: 7, numRuns: 1500 },
  );
  assert.ok(exact > 1000, `only ${exact} streams had no forced cut`);
});

test("any text, any chunks, a small bound: never more than the bound held, text kept", () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...PARTS, "    ", "====", "\u0316\u0334"), { minLength: 1, maxLength: 120 }),
      fc.integer({ min: 1, max: 0xffffffff }),
      (parts, seed) => {
        const text = parts.join("");
        const rnd = seededRandom(seed);
        const chunks: string[] = [];
        for (let i = 0; i < text.length;) {
          const n = 1 + Math.floor(rnd() * 9);
          chunks.push(text.slice(i, i + n));
          i += n;
        }
        const s = stream(chunks, 16, tok.createIncremental({ maxHeldChars: 16 }));
        assert.ok(s.maxHeld <= 16, `held ${s.maxHeld} of ${JSON.stringify(text)}`);
        assert.ok(s.maxUnreleased <= 16, `${s.maxUnreleased} unreleased of ${JSON.stringify(text)}`);
        assert.equal(tok.decode(s.ids).normalize("NFC"), text.normalize("NFC"));
      },
    ),
    { seed: 8, numRuns: 800 },
  );
});

test("runs of long vocabulary tokens (`____`, `====`, long words) stream to their one-shot ids unless a cut was forced", () => {
  // Qwen3 has tokens of 64 `_` or `=`, `realDonaldTrump`, `ありがとうございました`: a cut must not fall
  // where such a token could still form once more text arrives.
  const units = [
    "_",
    "=",
    "-",
    "*",
    "realDonaldTrump",
    "Autoresizing",
    "ありがとうございました",
    "อย่างต่อเนื่อง",
    "哈",
  ];
  let exact = 0;
  for (const unit of units) {
    for (let k = 1; unit.length * k <= 130; k++) {
      const text = `Title\n${unit.repeat(k)}\nBody.`;
      for (const size of [1, 3]) {
        const chunks: string[] = [];
        for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
        const s = stream(chunks);
        assert.ok(s.maxHeld <= MAX_HELD_CHARS);
        if (s.forced > 0) continue;
        exact++;
        assert.deepEqual(s.ids, tok.encode(text, { specials: false }), `${unit} × ${k}, chunks of ${size}`);
      }
    }
  }
  assert.ok(exact > 300, `only ${exact} streams had no forced cut`);
});
