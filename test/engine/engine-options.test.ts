/** One engine configuration: defaults merged in one place, every value checked at run time with the key named. */
import { test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import {
  ENGINE_DEFAULTS,
  EngineOptionsError,
  resolveEngineOptions,
  type EngineOptions,
} from "../../src/engine/engine-options.js";
import { GenGuard } from "../../src/guard/gen-guard.js";
import { StreamGuard } from "../../src/guard/stream-guard.js";

test("defaults fill every engine option", () => {
  const r = resolveEngineOptions();
  assert.equal(r.engine, "auto");
  assert.equal(r.gpu, "auto");
  assert.equal(r.contextSize, ENGINE_DEFAULTS.contextSize);
  assert.equal(r.sequences, ENGINE_DEFAULTS.sequences);
  assert.equal(r.kvCache, "f16");
  assert.equal(r.flashAttention, "auto");
  assert.equal(r.threads, os.availableParallelism());
  assert.equal(r.ubatchSize, "auto");
  assert.equal(r.logLevel, "warn");
  assert.equal(typeof r.warn, "function");
  const given = resolveEngineOptions({ kvCache: "f32", sequences: 3, threads: 1 });
  assert.deepEqual([given.kvCache, given.sequences, given.threads], ["f32", 3, 1]);
});

const BAD: [EngineOptions, string][] = [
  [{ engine: "koffi" as never }, "engine"],
  [{ gpu: false as never }, "gpu"],
  [{ kvCache: "F32" as never }, "kvCache"],
  [{ flashAttention: false as never }, "flashAttention"],
  [{ contextSize: 0 }, "contextSize"],
  [{ contextSize: 1.5 }, "contextSize"],
  [{ sequences: -1 }, "sequences"],
  [{ threads: Number.NaN }, "threads"],
  [{ batchSize: "512" as never }, "batchSize"],
  [{ ubatchSize: "big" as never }, "ubatchSize"],
  [{ logger: "stderr" as never }, "logger"],
  [{ logLevel: "verbose" as never }, "logLevel"],
];

for (const [options, key] of BAD) {
  test(`a bad ${key} is refused with an error naming it: ${JSON.stringify(options)}`, () => {
    assert.throws(
      () => resolveEngineOptions(options),
      (e: unknown) =>
        e instanceof EngineOptionsError &&
        e.code === "ENGINE_OPTIONS_INVALID" &&
        e.key === key &&
        e.message.startsWith(`engine option ${key}:`),
    );
  });
}

test("both guards check engine options before touching the model", async () => {
  // a model path that does not exist: the option error must come first, before any file is read
  for (const load of [
    () => GenGuard.load({ model: "/nonexistent/model", kvCache: "F16" as never }),
    () => StreamGuard.load({ model: "/nonexistent/model", sequences: 0 }),
  ]) {
    await assert.rejects(load(), EngineOptionsError);
  }
});
