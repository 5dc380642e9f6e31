/**
 * The remote-engine options: one schema and one set of defaults for the library (`EngineOptions.remote`, checked by
 * resolveEngineOptions) and the server's configuration (`remote.gen` / `remote.stream`, the same schema plus
 * `apiKeyEnv`); each problem is an ENGINE_OPTIONS_INVALID naming the key.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { REMOTE_DEFAULTS, resolveEngineOptions, type EngineOptions } from "../../src/guard/index.js";
import { remoteConfigSchema, remoteOptionsFromConfig } from "../../src/engine/remote/remote-options.js";

test("defaults are filled in one place; a remote pool implies engine remote; URLs lose a trailing /v1", () => {
  const r = resolveEngineOptions({
    remote: { backends: [{ kind: "vllm", url: "http://10.0.0.5:8000/v1/" }] },
  });
  assert.equal(r.engine, "remote");
  const pool = r.remote!;
  assert.equal(pool.timeoutMs, REMOTE_DEFAULTS.timeoutMs);
  assert.equal(pool.retries, REMOTE_DEFAULTS.retries);
  assert.equal(pool.breakerFailures, REMOTE_DEFAULTS.breakerFailures);
  assert.equal(pool.chunkTokens, REMOTE_DEFAULTS.chunkTokens);
  assert.deepEqual(pool.backends[0], {
    kind: "vllm",
    url: "http://10.0.0.5:8000",
    apiKey: undefined,
    model: undefined,
    name: "vllm@10.0.0.5:8000",
    maxOutstanding: REMOTE_DEFAULTS.maxOutstanding,
    topLogprobs: REMOTE_DEFAULTS.topLogprobs,
    logprobTokenIds: REMOTE_DEFAULTS.logprobTokenIds,
  });
  assert.equal(resolveEngineOptions({}).remote, undefined);
});

const bad: [EngineOptions, string, RegExp][] = [
  [{ engine: "remote" }, "remote", /needs remote: \{ backends/],
  [
    { engine: "llama-ffi", remote: { backends: [{ kind: "vllm", url: "http://a" }] } },
    "remote",
    /drop one of them/,
  ],
  [{ remote: { backends: [] } }, "remote.backends", /at least one backend/],
  [{ remote: { backends: [{ kind: "tgi" as never, url: "http://a" }] } }, "remote.backends.0.kind", /"vllm"/],
  [{ remote: { backends: [{ kind: "vllm", url: "ftp://a" }] } }, "remote.backends.0.url", /http/],
  [{ remote: { backends: [{ kind: "ollama", url: "http://a" }] } }, "remote.backends.0.model", /tag/],
  [
    {
      remote: {
        backends: [
          { kind: "vllm", url: "http://a", name: "x" },
          { kind: "sglang", url: "http://b", name: "x" },
        ],
      },
    },
    "remote.backends.1.name",
    /unique/,
  ],
  [{ remote: { backends: [{ kind: "vllm", url: "http://a" }], retries: -1 } }, "remote.retries", /./],
  [{ remote: { backends: [{ kind: "vllm", url: "http://a" }], nope: 1 } as never }, "remote", /unknown key/],
];

for (const [options, key, message] of bad) {
  test(`refused with ENGINE_OPTIONS_INVALID naming ${key}: ${JSON.stringify(options)}`, () => {
    assert.throws(
      () => resolveEngineOptions(options),
      (e: Error & { code?: string; key?: string }) => {
        assert.equal(e.code, "ENGINE_OPTIONS_INVALID");
        assert.equal(e.key, key);
        assert.match(e.message, message);
        return true;
      },
    );
  });
}

test("the server's configuration: the same schema plus apiKeyEnv, read from the environment", () => {
  const parsed = remoteConfigSchema.parse({
    backends: [{ kind: "sglang", url: "http://s:30000", apiKeyEnv: "SGLANG_KEY" }],
    timeoutMs: 5000,
  });
  const ok = remoteOptionsFromConfig(parsed, { SGLANG_KEY: "k1" }, "remote.gen");
  assert.ok(ok.ok);
  assert.deepEqual(ok.value.backends, [{ kind: "sglang", url: "http://s:30000", apiKey: "k1" }]);
  assert.equal(resolveEngineOptions({ remote: ok.value }).remote!.timeoutMs, 5000);
  const missing = remoteOptionsFromConfig(parsed, {}, "remote.gen");
  assert.ok(!missing.ok);
  assert.equal(missing.issue.path, "remote.gen.backends.0.apiKeyEnv");
  assert.equal(
    remoteConfigSchema.safeParse({ backends: [{ kind: "vllm", url: "http://a" }], registry: {} }).success,
    false,
  );
});
