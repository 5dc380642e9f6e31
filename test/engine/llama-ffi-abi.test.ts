import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DecodeQueue,
  EXPECTED_ABI,
  LLAMA_HEADER,
  LlamaLibrary,
  abiMismatches,
  layoutMismatches,
  structSize,
  type AbiExpectation,
} from "../../src/engine/llama-ffi/index.js";
import type { LlamaNative, ParamsStruct } from "../../src/engine/llama-ffi/llamaAbi.js";

const sizes = () => ({
  llama_batch: structSize("llama_batch"),
  llama_model_params: structSize("llama_model_params"),
  llama_context_params: structSize("llama_context_params"),
});

test("koffi's struct layouts equal the C compiler's for the bundled llama.h", () => {
  assert.deepEqual(sizes(), { llama_batch: 56, llama_model_params: 80, llama_context_params: 160 });
  assert.deepEqual(layoutMismatches(), []);
});

test("the shipped libllama matches the header description and loads", async () => {
  const r = await LlamaLibrary.load({ log: "silent" });
  assert.ok(r.available, r.available ? "" : r.reason);
  assert.equal(r.library.version, LLAMA_HEADER.llamaVersion);
  assert.match(r.library.version, /^0\.4\.0/);
  assert.ok(r.library.devices.includes("CPU"), `devices: ${r.library.devices.join(", ")}`);
  assert.equal(r.library.binaries.variant, "cpu");
});

async function loadWith(change: (e: AbiExpectation) => void): Promise<string> {
  const expected: AbiExpectation = structuredClone(EXPECTED_ABI);
  change(expected);
  const r = await LlamaLibrary.load({ log: "silent", expectedAbi: expected });
  assert.equal(r.available, false, "a mismatching ABI must make the binding unavailable");
  assert.ok(!r.available && r.problems.length > 0);
  return r.available ? "" : r.reason;
}

test("a different llama_version() makes the binding unavailable, with the reason", async () => {
  const reason = await loadWith((e) => (e.llamaVersion = "0.5.0-dev"));
  assert.match(reason, /llama_version\(\) is "0\.4\.0-dev", expected "0\.5\.0-dev"/);
  assert.match(reason, /extract-llama-header/);
});

test("a different default-parameter fingerprint makes the binding unavailable", async () => {
  const reason = await loadWith((e) => (e.defaults.llama_context_params.n_batch = 4096));
  assert.match(reason, /llama_context_params\.n_batch defaults to 2048, expected 4096/);
  const reason2 = await loadWith((e) => (e.defaults.llama_model_params.use_extra_bufts = false));
  assert.match(reason2, /llama_model_params\.use_extra_bufts/);
});

test("loadOrWarn returns null and reports the reason when the ABI does not match", async () => {
  const warnings: string[] = [];
  const expected: AbiExpectation = structuredClone(EXPECTED_ABI);
  expected.defaults.llama_context_params.n_ctx = 1;
  const lib = await LlamaLibrary.loadOrWarn({ log: "silent", expectedAbi: expected }, (m) =>
    warnings.push(m),
  );
  assert.equal(lib, null);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? "", /falling back to node-llama-cpp: .*n_ctx defaults to 512, expected 1/);
  assert.ok(await LlamaLibrary.loadOrWarn({ log: "silent" }, (m) => warnings.push(m)));
  assert.equal(warnings.length, 1);
});

test("a different struct size makes the binding unavailable", async () => {
  const reason = await loadWith((e) => (e.structSizes.llama_context_params = 168));
  assert.match(reason, /sizeof\(llama_context_params\) is 160, expected 168/);
});

test("the fingerprint catches a field inserted into the params structs", () => {
  // a library built from a header with one more uint32_t after n_seq_max: every later value moves one field down
  const real = EXPECTED_ABI.defaults.llama_context_params;
  const names = Object.keys(real);
  const shifted: ParamsStruct = {};
  names.forEach((name, i) => {
    const prev = i > 3 ? real[names[i - 1] as string] : real[name];
    shifted[name] = prev === "non-null" ? 1n : ((prev ?? null) as number | boolean | null);
  });
  const fake = {
    llama_version: () => EXPECTED_ABI.llamaVersion,
    llama_model_default_params: () => ({ ...EXPECTED_ABI.defaults.llama_model_params }) as ParamsStruct,
    llama_context_default_params: () => shifted,
  } as unknown as LlamaNative;
  const problems = abiMismatches(fake, sizes());
  assert.ok(problems.length >= 3, problems.join("\n"));
  assert.ok(problems.some((p) => p.startsWith("llama_context_params.")));
  const same = { ...fake, llama_context_default_params: () => ({ ...real }) as ParamsStruct } as LlamaNative;
  assert.deepEqual(abiMismatches(same, sizes()), []);
});

test("DecodeQueue never runs two tasks at once, keeps FIFO order and survives failures", async () => {
  const q = new DecodeQueue();
  let running = 0;
  let overlap = 0;
  const order: number[] = [];
  const task =
    (i: number, fail = false) =>
    async () => {
      running++;
      overlap = Math.max(overlap, running);
      await sleep(5 - (i % 3)); // later tasks would finish first if they overlapped
      order.push(i);
      running--;
      if (fail) throw new Error(`task ${i} failed`);
      return i;
    };
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => q.run(task(i, i === 2))));
  assert.equal(overlap, 1);
  assert.equal(q.maxConcurrency, 1);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(results[2]?.status, "rejected");
  assert.deepEqual(
    results.filter((r) => r.status === "fulfilled").map((r) => (r as PromiseFulfilledResult<number>).value),
    [0, 1, 3, 4, 5],
  );
  assert.equal(q.settled, 6);
  assert.equal(q.pending, 0);
});

const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

test(
  "the header description was generated from the llama.cpp bundle installed with node-llama-cpp",
  { skip: !has("git") && "needs git" },
  () => {
    const r = spawnSync(
      "git",
      ["bundle", "list-heads", "node_modules/node-llama-cpp/llama/gitRelease.bundle"],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${LLAMA_HEADER.source.bundleHead} HEAD$`, "m"));
  },
);

// Regenerating clones the 35 MB bundle and runs the C compiler (~5-10 s): on in CI or with LLAMA_FFI_HEADER_CHECK=1.
const fullCheck =
  Boolean(process.env.CI || process.env.LLAMA_FFI_HEADER_CHECK) && ["git", "cc", "tar"].every(has);

test(
  "the committed header description is exactly what the bundled source generates",
  { skip: !fullCheck && "set LLAMA_FFI_HEADER_CHECK=1 (needs git, cc, tar)" },
  () => {
    const r = spawnSync(process.execPath, ["scripts/extract-llama-header.mjs", "--check"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr || r.stdout);
  },
);
