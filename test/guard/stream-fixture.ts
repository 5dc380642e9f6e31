/** Shared setup for the Stream guard tests: tiny models on disk, exact engine settings, reference verdicts. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GenGuard } from "../../src/guard/gen-guard.js";
import { StreamGuard, type StreamGuardOptions } from "../../src/guard/stream-guard.js";
import { writeCraftedGenModel, writeCraftedStreamModel } from "../../src/model/synth/index.js";
import { ReferenceQwen3, ReferenceStreamHeads } from "../../src/engine/reference/index.js";

/** F32 weights and KV, flash attention off, one thread (the machine is shared), llama.cpp quiet. */
export const EXACT: Omit<StreamGuardOptions, "model"> = {
  quantization: "f32",
  kvCache: "f32",
  flashAttention: "off",
  threads: 1,
  contextSize: 512,
  sequences: 3,
  logger: () => {},
};

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function loadGuard(modelDir: string, options: Partial<StreamGuardOptions> = {}): Promise<StreamGuard> {
  return StreamGuard.load({
    ...EXACT,
    cacheDir: path.join(modelDir, ".cache"),
    model: modelDir,
    ...options,
  });
}

/** The reference per-position head outputs of a whole token sequence. */
export function referenceHeads(modelDir: string) {
  const backbone = ReferenceQwen3.load(modelDir);
  const heads = ReferenceStreamHeads.load(modelDir);
  return (ids: readonly number[]) => backbone.forward(ids).hidden.map((h) => heads.apply(h));
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertLength(a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function assertLength(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
}

/** Split `text` into random chunks of UTF-16 code units (seeded; may split a surrogate pair). */
export function randomChunks(text: string, seed: number, maxLen = 7): string[] {
  let s = seed >>> 0 || 1;
  const next = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    const n = 1 + Math.floor(next() * maxLen);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** The crafted Stream model (2 sequences) and the crafted Gen model (1 sequence), exact settings, in a temp folder. */
export async function loadCraftedGuards(
  prefix: string,
): Promise<{ stream: StreamGuard; gen: GenGuard; close: () => Promise<void> }> {
  const tmp = tempDir(prefix);
  let stream: StreamGuard | undefined;
  let gen: GenGuard | undefined;
  const close = async () => {
    await stream?.close();
    await gen?.close();
    tmp.cleanup();
  };
  try {
    writeCraftedStreamModel(path.join(tmp.dir, "stream"));
    const genModel = writeCraftedGenModel(path.join(tmp.dir, "gen"));
    stream = await loadGuard(path.join(tmp.dir, "stream"), { sequences: 2 });
    gen = await GenGuard.load({
      model: genModel.dir,
      quantization: "f32",
      cacheDir: path.join(tmp.dir, "cache"),
      gpu: "cpu",
      flashAttention: "off",
      kvCache: "f32",
      contextSize: 1024,
      threads: 1,
      sequences: 1,
    });
    return { stream, gen, close };
  } catch (error) {
    await close();
    throw error;
  }
}
