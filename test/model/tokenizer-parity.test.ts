import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadBundledQwen3Tokenizer } from "../../src/model/tokenizer/index.js";
import {
  FIXTURE_NAMES,
  firstDiff,
  fixtureText,
  genPromptTemplate,
  loadReferenceTokenizer,
  rtpLxPrompts,
} from "./tokenizer-test-data.js";

const ours = loadBundledQwen3Tokenizer();
const reference = await loadReferenceTokenizer();
const prompts = rtpLxPrompts();

function report(label: string, failures: string[], total: number): string {
  return `${label}: ${failures.length}/${total} mismatches; first: ${failures.slice(0, 3).join(" | ")}`;
}

test("RTP-LX has its 2,080 prompts over 26 locales", () => {
  assert.equal(prompts.length, 2080);
});

test("raw prompts: ids equal Hugging Face's tokenizers.js for all 2,080 prompts", () => {
  const failures: string[] = [];
  prompts.forEach((prompt, i) => {
    const a = ours.encode(prompt, { specials: true });
    const b = reference.encode(prompt);
    if (a.length !== b.length || a.some((id, k) => id !== b[k])) failures.push(`#${i} ${firstDiff(a, b)}`);
  });
  assert.equal(failures.length, 0, report("raw", failures, prompts.length));
});

test("prompts wrapped in the Gen template: segment encoding equals Hugging Face's tokenizers.js on the joined text", () => {
  const [before, after] = genPromptTemplate();
  const failures: string[] = [];
  prompts.forEach((prompt, i) => {
    const enc = ours.encodeSegments([
      { kind: "template", text: before },
      { kind: "content", text: prompt },
      { kind: "template", text: after },
    ]);
    const ourIds = enc.ids;
    // The content's token range carries all of its text (tokens straddling a boundary go to the content).
    const body = enc.segments[1]!;
    if (!ours.decode(ourIds.slice(body.tokenStart, body.tokenEnd)).includes(prompt.normalize("NFC"))) {
      failures.push(`#${i} content range does not decode to a text holding the prompt`);
    }
    const refIds = reference.encode(before + prompt + after);
    if (ourIds.length !== refIds.length || ourIds.some((id, k) => id !== refIds[k])) {
      failures.push(`#${i} ${firstDiff(ourIds, refIds)}`);
    }
  });
  assert.equal(failures.length, 0, report("wrapped", failures, prompts.length));
});

test("the Gen fixtures as a whole: ids equal Hugging Face's tokenizers.js, and decode gives the text back", () => {
  for (const name of FIXTURE_NAMES) {
    const text = fixtureText(name);
    const a = ours.encode(text, { specials: true });
    const b = reference.encode(text);
    assert.deepEqual(a, b, `${name}: ${firstDiff(a, b)}`);
    assert.ok(a.includes(ours.addedTokenId("<|im_start|>")), `${name} has no <|im_start|> id`);
    assert.equal(ours.decode(a), text);
  }
});

test("whitespace, NFC and case edge cases equal Hugging Face's tokenizers.js", () => {
  const cases = [
    "e\u0301",
    "Cafe\u0301 \u1100\u1161\u11a8",
    "a\u0085b\u0085 \ufeffc\ufeff",
    "x\u2028\u3000\u00a0 y\u200b\u200d",
    "I'M HE'S we'LL they'Re 'ſ 'S",
    "a  \n \r\n\t\n  b   ",
    "?!\n\n  'll 123 ١٢٣ ½",
    "\ud83d\ude00\ud83d\udc4d\ud83c\udffd<|im_end|><think></think>",
    "lone \ud800 surrogate \udc00 x",
  ];
  for (const text of cases) {
    const a = ours.encode(text, { specials: true });
    const b = reference.encode(text);
    assert.deepEqual(a, b, `${JSON.stringify(text)}: ${firstDiff(a, b)}`);
  }
});

test("random strings over a tricky alphabet equal Hugging Face's tokenizers.js (seeded)", () => {
  const alphabet = [
    "a",
    "Z",
    "'",
    "s",
    "S",
    "l",
    "L",
    "r",
    "e",
    "v",
    "d",
    "1",
    "٣",
    "!",
    "?",
    ",",
    " ",
    "  ",
    "\n",
    "\r",
    "\t",
    "\u00a0",
    "\u0085",
    "\ufeff",
    "\u3000",
    "é",
    "e\u0301",
    "\u0301",
    "中",
    "😀",
    "👍🏽",
    "ก",
    "ี",
    "\u1100",
    "\u1161",
    "\u11a8",
    "<|im_end|>",
    "<think>",
    "<",
    "|",
    ">",
    "ſ",
    "\u200d",
  ];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 14 }), (parts) => {
      const text = parts.join("");
      assert.deepEqual(ours.encode(text, { specials: true }), reference.encode(text), JSON.stringify(text));
    }),
    { seed: 20240611, numRuns: 3000 },
  );
});
