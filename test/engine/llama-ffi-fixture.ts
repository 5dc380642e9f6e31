/** Shared setup for the llama-ffi tests: a tiny synthetic Qwen3, its F32 GGUF, the reference, the library. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { synthesizeModel } from "../../src/model/synth/index.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import { ReferenceQwen3 } from "../../src/engine/reference/index.js";
import { LlamaLibrary } from "../../src/engine/llama-ffi/index.js";

export interface TinyModelFixture {
  dir: string;
  gguf: string;
  reference: ReferenceQwen3;
  library: LlamaLibrary;
  cleanup: () => void;
}

export async function tinyModelFixture(): Promise<TinyModelFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-ffi-test-"));
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: dir, dtype: "f32", seed: 11 });
  const gguf = path.join(dir, "model-f32.gguf");
  await convertHfToGguf({ modelDir: dir, outFile: gguf, type: "f32" });
  const loaded = await LlamaLibrary.load({ log: "silent" });
  if (!loaded.available) throw new Error(`the binding is unavailable here: ${loaded.reason}`);
  return {
    dir,
    gguf,
    reference: ReferenceQwen3.load(dir),
    library: loaded.library,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Largest absolute difference between two lists of vectors of the same shape. */
export function maxAbsDiff(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  if (a.length !== b.length) throw new Error(`${a.length} vectors vs ${b.length}`);
  let max = 0;
  a.forEach((v, i) => {
    const w = b[i] as Float32Array;
    if (v.length !== w.length) throw new Error(`vector ${i}: length ${v.length} vs ${w.length}`);
    for (let j = 0; j < v.length; j++) max = Math.max(max, Math.abs((v[j] as number) - (w[j] as number)));
  });
  return max;
}

/** Deterministic token ids spread over the vocabulary. */
export function tokenIds(count: number, salt: number): number[] {
  return Array.from({ length: count }, (_, i) => (i * 7919 + salt * 104729 + 13) % 151000);
}
