/**
 * The ids the Gen engine is fed: GenGuard tokenizes with our QwenTokenizer built from the GGUF's own vocabulary
 * (tokenizerFromGguf). On all 2,080 RTP-LX prompts, rendered into the Gen prompt, those ids must equal Hugging
 * Face's reference tokenizer (tokenizers.js, the tokenizer code of transformers.js, on tokenizer.json, offline) —
 * and llama.cpp's own tokenizer on the same GGUF is checked too (the engine never uses it; a disagreement is
 * reported as a finding).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LlamaModel, Token } from "node-llama-cpp";
import { joinSegments } from "../../src/core/segments.js";
import { getLlamaRuntime } from "../../src/engine/llama-runtime.js";
import { GenGuard } from "../../src/guard/gen-guard.js";
import { genGuardInternals } from "../../src/guard/internals.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { synthesizeModel } from "../../src/model/synth/index.js";
import {
  firstDiff,
  loadReferenceTokenizer,
  rtpLxPrompts,
  type ReferenceTokenizer,
} from "../model/tokenizer-test-data.js";

let dir: string;
let guard: GenGuard;
let hf: ReferenceTokenizer;
/** llama.cpp's own view of the same GGUF (the guard's engine does not expose its tokenizer). */
let model: LlamaModel;
const prompts = rtpLxPrompts();

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "gen-tok-parity-"));
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: path.join(dir, "hf"), dtype: "f32", seed: 3 });
  const gguf = path.join(dir, "model.gguf");
  await convertHfToGguf({ modelDir: path.join(dir, "hf"), outFile: gguf, type: "f32" });
  // The GGUF itself as --model: the guard's tokenizer then comes from the GGUF's vocabulary.
  guard = await GenGuard.load({ model: gguf, gpu: "cpu", contextSize: 512, sequences: 1 });
  hf = await loadReferenceTokenizer();
  const llama = await getLlamaRuntime({ gpu: false });
  model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
});

after(async () => {
  await model?.dispose();
  await guard?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function summary(label: string, failures: string[], total: number): string {
  return `${label}: ${failures.length}/${total} mismatches; first: ${failures.slice(0, 3).join(" | ")}`;
}

test("the guard's tokenizer comes from the GGUF vocabulary", () => {
  assert.equal(genGuardInternals(guard).assets.gguf, "given");
  assert.equal(guard.info.model.gguf, guard.info.model.path, "the GGUF given is the one run");
  assert.equal(genGuardInternals(guard).tokenizer.addedTokenId("<|im_end|>"), 151645);
});

test("engine-fed ids of all 2,080 RTP-LX prompts in the Gen template equal Hugging Face's tokenizers.js", () => {
  assert.equal(prompts.length, 2080);
  const failures: string[] = [];
  prompts.forEach((text, i) => {
    const { prompt, ids } = guard.tokenize([{ role: "user", content: text }]);
    const expected = hf.encode(joinSegments(prompt.segments));
    if (!same(ids, expected)) failures.push(`#${i} ${firstDiff(ids, expected)}`);
  });
  assert.equal(failures.length, 0, summary("GGUF tokenizer vs HF", failures, prompts.length));
});

test("llama.cpp's tokenizer on the same GGUF agrees on all 2,080 prompts (NFC-normalised input)", (t) => {
  const plain: string[] = [];
  const rendered: string[] = [];
  prompts.forEach((text, i) => {
    const ours = genGuardInternals(guard).tokenizer.encode(text, { specials: false });
    const theirs = model.tokenize(text.normalize("NFC"), false).map(Number);
    if (!same(ours, theirs)) plain.push(`#${i} ${firstDiff(theirs, ours).replace("ours", "llama.cpp")}`);
    // The whole rendered prompt, special tokens parsed (RTP-LX content holds no special-token text).
    const { prompt, ids } = guard.tokenize([{ role: "user", content: text }]);
    const full = model.tokenize(joinSegments(prompt.segments).normalize("NFC"), true).map(Number);
    if (!same(ids, full)) rendered.push(`#${i} ${firstDiff(full, ids).replace("ours", "llama.cpp")}`);
  });
  // Without NFC, llama.cpp tokenizes the raw code points (HF and we normalise): count those, for the record.
  const notNfc = prompts.filter((text) => text !== text.normalize("NFC"));
  const rawDiffer = notNfc.filter(
    (text) =>
      !same(
        genGuardInternals(guard).tokenizer.encode(text, { specials: false }),
        model.tokenize(text, false).map(Number),
      ),
  ).length;
  t.diagnostic(
    `llama.cpp vs ours: plain ${plain.length}/2080, rendered ${rendered.length}/2080 mismatches; ` +
      `${notNfc.length} prompts are not NFC, ${rawDiffer} of them tokenize differently in llama.cpp without NFC`,
  );
  assert.equal(plain.length, 0, summary("llama.cpp vs ours, plain text", plain, prompts.length));
  assert.equal(rendered.length, 0, summary("llama.cpp vs ours, rendered prompt", rendered, prompts.length));
});

test("llama.cpp detokenizes our ids of every prompt back to the NFC text", () => {
  const failures: number[] = [];
  prompts.forEach((text, i) => {
    const ids = genGuardInternals(guard).tokenizer.encode(text, { specials: false });
    if (model.detokenize(ids as Token[]) !== text.normalize("NFC")) failures.push(i);
  });
  assert.equal(
    failures.length,
    0,
    `${failures.length} prompts do not round-trip: #${failures.slice(0, 5).join(", #")}`,
  );
});
