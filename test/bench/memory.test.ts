/**
 * The benchmarks' memory report (bench/memory.ts): the buffers llama.cpp allocates, read from its own log lines,
 * and the breakdown of the peak that `npm run bench -- gen|stream --json` print under `memory`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MemoryMonitor } from "../../bench/memory.js";

const MiB = 1024 * 1024;

// Lines as llama.cpp logs them at level info (the CPU_REPACK one is what a repacking CPU backend adds).
const LOG = [
  "load_tensors:   CPU_Mapped model buffer size =   604.15 MiB",
  "load_tensors:   CPU_REPACK model buffer size =   300.00 MiB",
  "llama_context: n_ctx                 = 2048",
  "llama_context: n_outputs_max         = 12",
  "llama_context: n_outputs_max_per_seq = 1",
  "llama_context:        CPU  output buffer size =     1.74 MiB",
  "llama_kv_cache:        CPU KV buffer size =   224.00 MiB",
  "sched_reserve:        CPU compute buffer size =    28.07 MiB",
];

test("the memory report reads llama.cpp's buffers from its log and breaks the peak down", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "q3g-bench-memory-")), "model.gguf");
  fs.writeFileSync(file, Buffer.alloc(4096));
  const memory = new MemoryMonitor(1000);
  for (const line of LOG) memory.logger("info", `${line}\n`);
  memory.phase("load");
  assert.deepEqual(memory.llamaBuffers, {
    model: { CPU_Mapped: Math.round(604.15 * MiB), CPU_REPACK: 300 * MiB },
    kvCacheBytes: 224 * MiB,
    computeBytes: Math.round(28.07 * MiB),
    outputInitialBytes: Math.round(1.74 * MiB),
    nOutputsMax: 12,
  });
  const nVocab = 151936;
  const report = memory.report({
    budgetBytes: 8 * 1024 * MiB,
    modelFile: file,
    modelFileBytes: 4096,
    kvCacheBytes: 1, // the log's figure wins
    outputRows: 4,
    nVocab,
    nEmbd: 1024,
    embeddings: false,
  });
  const b = report.breakdown;
  assert.equal(b.kvCacheBytes, 224 * MiB);
  assert.equal(b.computeBuffersBytes, Math.round(28.07 * MiB));
  assert.equal(b.extraWeightBuffersBytes, 300 * MiB); // weights copied out of the mapping
  assert.equal(b.outputRows, 4); // at most n_outputs_max
  assert.equal(b.outputBufferBytes, Math.max(Math.round(1.74 * MiB), 4 * nVocab * 4));
  assert.equal(b.modelFileBytes, 4096);
  assert.ok(report.peakRssBytes > 0);
  assert.equal(report.marginBytes, report.budgetBytes - report.peakRssBytes);
  assert.equal(report.withinBudget, report.peakRssBytes <= report.budgetBytes);
  assert.deepEqual(
    report.phases.map((p) => p.phase),
    ["load"],
  );
  if (process.platform === "linux") {
    // the parts measured from /proc: the rest is what nothing else explains, never negative
    assert.equal(b.modelMappedBytes, 0); // written, never mapped
    assert.ok(b.otherFileBytes !== null && b.otherFileBytes > 0);
    assert.ok(b.nativeOtherBytes >= 0);
    assert.ok(b.jsHeapBytes > 0 && b.jsHeapPeakBytes >= b.jsHeapBytes);
  }
  // the JS buffers are ArrayBuffers' own memory, not V8's `external` (which counts views of native memory too)
  assert.equal(b.jsBuffersBytes, report.atSampledPeak.arrayBuffersBytes);
});

test("an embeddings context's output rows hold a hidden state beside the logits; rows are capped by n_outputs_max", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "q3g-bench-memory-")), "model.gguf");
  fs.writeFileSync(file, Buffer.alloc(16));
  const memory = new MemoryMonitor(1000);
  memory.logger("info", "llama_context: n_outputs_max         = 64\n");
  const b = memory.report({
    budgetBytes: MiB,
    modelFile: file,
    modelFileBytes: 16,
    kvCacheBytes: 112 * MiB, // no KV line: the estimate is used
    outputRows: 316,
    nVocab: 151936,
    nEmbd: 1024,
    embeddings: true,
  }).breakdown;
  assert.equal(b.kvCacheBytes, 112 * MiB);
  assert.equal(b.outputRows, 64);
  assert.equal(b.outputBufferBytes, 64 * (151936 + 1024) * 4);
  assert.equal(b.extraWeightBuffersBytes, 0);
});
