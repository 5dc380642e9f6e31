/**
 * End to end, a Stream session fed unpunctuated text one character at a time gives verdicts with a bounded lag:
 * after every push, at most MAX_HELD_CHARS characters are still without a token verdict.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { MAX_HELD_CHARS } from "../../src/model/tokenizer/index.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { dataFile } from "../helpers/repo-data.js";
import { loadGuard, tempDir } from "./stream-fixture.js";

let tmp: ReturnType<typeof tempDir>;
let guard: StreamGuard;

before(async () => {
  tmp = tempDir("stream-lag-");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: tmp.dir, dtype: "f32", seed: 5 });
  guard = await loadGuard(tmp.dir, { contextSize: 2048, sequences: 1 });
});

after(async () => {
  await guard?.close();
  tmp?.cleanup();
});

/** 2,000 characters of the RTP-LX Chinese prompts with whitespace and punctuation removed. */
function unpunctuatedChinese(): string {
  const text = fs
    .readFileSync(dataFile("datasets", "rtp-lx-26-locales-sample.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as { locale: string; prompt: string })
    .filter((row) => row.locale === "ZH")
    .map((row) => row.prompt.replace(/[\s\p{P}\p{S}]/gu, ""))
    .join("");
  assert.ok(text.length >= 2000);
  return text.slice(0, 2000);
}

test("2,000 unpunctuated Chinese characters pushed one at a time: never more than MAX_HELD_CHARS without a verdict", async () => {
  const text = unpunctuatedChinese();
  const session = await guard.openStream([{ role: "user", content: "讲个故事" }]);
  try {
    let judged = ""; // the text of the tokens that have a verdict, in order
    let pushed = 0;
    let maxLag = 0;
    let next = 0;
    for (const ch of text) {
      const verdicts = await session.push(ch);
      for (const v of verdicts) {
        assert.equal(v.index, next++);
        judged += v.text;
      }
      pushed += ch.length;
      const lag = pushed - judged.length;
      maxLag = Math.max(maxLag, lag);
      assert.ok(lag <= MAX_HELD_CHARS, `after ${pushed} characters, ${lag} had no verdict`);
    }
    const { tokens } = await session.end();
    for (const v of tokens) judged += v.text;
    assert.equal(judged, text);
    // The bound is not just met: ordinary CJK text waits for a few characters only.
    assert.ok(maxLag <= MAX_HELD_CHARS / 2, `up to ${maxLag} characters waited`);
  } finally {
    await session.close();
  }
});
