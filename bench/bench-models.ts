/** Synthetic models for benchmarks, built once and cached in .cache/bench (git-ignored). */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "./repo-root.js";
import type { SynthKind, SynthShape } from "../src/model/synth/presets.js";
import { ensureGgufDetailed } from "../src/model/convert/gguf-cache.js";
import type { GgufOutputType } from "../src/model/convert/qwen3-tensor-plan.js";

export const benchCacheDir = process.env.QWEN3GUARD_BENCH_CACHE ?? path.join(repoRoot, ".cache", "bench");

export interface BenchModel {
  folder: string;
  gguf: string;
  ggufBytes: number;
  buildSeconds: number;
}

/** A synthetic checkpoint folder plus its GGUF, built on first use (progress on stderr). */
export async function ensureBenchModel(
  kind: SynthKind,
  shape: SynthShape,
  type: GgufOutputType,
): Promise<BenchModel> {
  const started = performance.now();
  const folder = path.join(benchCacheDir, `${kind}-${shape}-bf16-seed1`);
  if (!fs.existsSync(path.join(folder, "model.safetensors"))) {
    process.stderr.write(`building a ${shape}-shaped synthetic ${kind} model in ${folder} …\n`);
    // imported here: the measured processes only find the model built (benchModelBuiltApart)
    const { synthesizeModel } = await import("../src/model/synth/index.js");
    fs.rmSync(folder, { recursive: true, force: true });
    let last = -1;
    synthesizeModel({
      kind,
      shape,
      outDir: folder,
      dtype: shape === "tiny" ? "f32" : "bf16",
      seed: 1,
      onProgress: (p) => {
        const pct = Math.floor((p.bytesDone / Math.max(1, p.bytesTotal)) * 10);
        if (pct !== last) process.stderr.write(`  synth ${pct * 10}%\n`);
        last = pct;
      },
    });
  }
  let lastPct = -1;
  const converted = await ensureGgufDetailed(folder, {
    type,
    cacheDir: benchCacheDir,
    onProgress: (p) => {
      if (p.phase !== "convert") return;
      const pct = Math.floor((p.bytesWritten / Math.max(1, p.bytesTotal)) * 10);
      if (pct !== lastPct) process.stderr.write(`  convert to ${type} ${pct * 10}%\n`);
      lastPct = pct;
    },
  });
  return {
    folder,
    gguf: converted.path,
    ggufBytes: fs.statSync(converted.path).size,
    buildSeconds: (performance.now() - started) / 1000,
  };
}

/**
 * The benchmark model, built (when not cached yet) by `bench models` in a child process: building and converting
 * a model take far more memory than using it, and would count in this process's peak RSS.
 */
export async function benchModelBuiltApart(
  kind: SynthKind,
  shape: SynthShape,
  type: GgufOutputType,
): Promise<BenchModel> {
  const runScript = fileURLToPath(new URL("./run.js", import.meta.url));
  if (fs.existsSync(runScript)) {
    const child = spawnSync(process.execPath, [runScript, "models", "--shape", shape, "--kind", kind], {
      stdio: ["ignore", 2, 2], // its report goes to stderr: stdout is the JSON
    });
    if (child.status !== 0)
      throw new Error(`building the ${kind} benchmark model failed (status ${child.status})`);
  }
  return ensureBenchModel(kind, shape, type);
}
