/**
 * Contract tests of the Stream backbone clients against fakes of vLLM (`POST /pooling`) and llama-server
 * (`POST /embeddings`) that answer with bodies written from their documented schemas (test/remote/fake-engines.ts:
 * neither engine runs here). The request carries what the docs say (token ids, task token_embed, no activation);
 * the answer is read back per token; an engine that pooled or normalised the vectors is a RemoteProtocolError, and
 * a kind that serves no hidden states (SGLang, Ollama) is refused at load. The same clients against our own server
 * are tested end to end in e2e-stream.test.ts.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StreamGuard } from "../../src/guard/index.js";
import { streamGuardInternals } from "../../src/guard/internals.js";
import { writeCraftedStreamModel } from "../../src/model/synth/index.js";
import type { QwenTokenizer } from "../../src/model/tokenizer/index.js";
import { FakeEngine } from "./fake-engines.js";

let dir: string;
let modelDir: string;
let tokenizer: QwenTokenizer;
let width: number;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-contract-stream-"));
  modelDir = writeCraftedStreamModel(path.join(dir, "stream")).dir;
  const probe = await StreamGuard.load({
    model: modelDir,
    remote: { backends: [{ kind: "vllm", url: "http://127.0.0.1:9" }], healthIntervalMs: 0 },
  });
  tokenizer = streamGuardInternals(probe).tokenizer;
  width = streamGuardInternals(probe).engine.hiddenSize;
  await probe.close();
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function withFake<T>(
  kind: "vllm" | "llama-server",
  setup: (fake: FakeEngine) => void,
  run: (guard: StreamGuard, fake: FakeEngine) => Promise<T>,
): Promise<T> {
  const fake = new FakeEngine(kind, tokenizer, undefined);
  fake.width = width;
  setup(fake);
  await fake.start();
  const guard = await StreamGuard.load({
    model: modelDir,
    remote: {
      backends: [
        { kind, url: fake.url, ...(kind === "vllm" ? { model: "Qwen/Qwen3Guard-Stream-0.6B" } : {}) },
      ],
      healthIntervalMs: 0,
      retries: 0,
    },
  });
  try {
    return await run(guard, fake);
  } finally {
    await guard.close();
    await fake.close();
  }
}

const ids = () => [9707, 11, 1879, 0];

test("vLLM /pooling: token ids, task token_embed, use_activation false; one raw vector per token back", async () => {
  await withFake(
    "vllm",
    () => undefined,
    async (guard, fake) => {
      const states = await guard.hiddenStates(ids());
      const body = fake.on("/pooling")[0]!.body;
      assert.deepEqual(body.input, ids());
      assert.equal(body.task, "token_embed");
      assert.equal(body.use_activation, false);
      assert.equal(body.model, "Qwen/Qwen3Guard-Stream-0.6B");
      assert.equal(states.length, 4);
      const expected = fake.hidden(ids());
      states.forEach((s, i) => s.forEach((x, j) => assert.ok(Math.abs(x - expected[i]![j]!) < 1e-6)));
    },
  );
});

test("vLLM /pooling: normalised vectors (an engine that ignored use_activation) are a protocol error", async () => {
  await withFake(
    "vllm",
    (fake) => (fake.normalise = true),
    async (guard) => {
      await assert.rejects(guard.hiddenStates(ids()), (e: Error & { code?: string }) => {
        assert.equal(e.code, "REMOTE_PROTOCOL");
        assert.match(e.message, /normalised/);
        return true;
      });
    },
  );
});

test("llama-server /embeddings: token ids in, one unnormalised vector per token (--pooling none)", async () => {
  await withFake(
    "llama-server",
    () => undefined,
    async (guard, fake) => {
      const states = await guard.hiddenStates(ids());
      assert.deepEqual(fake.on("/embeddings")[0]!.body.input, ids());
      assert.equal(states.length, 4);
      assert.equal(states[0]!.length, width);
    },
  );
});

test("llama-server /embeddings: one pooled vector (no --pooling none) is a protocol error that says so", async () => {
  await withFake(
    "llama-server",
    (fake) => (fake.pooled = true),
    async (guard) => {
      await assert.rejects(guard.hiddenStates(ids()), /--pooling none/);
    },
  );
});

test("a width other than the heads' (another model) is a protocol error", async () => {
  await withFake(
    "vllm",
    (fake) => (fake.width = width + 1),
    async (guard) => {
      await assert.rejects(guard.hiddenStates(ids()), /the Stream heads expect/);
    },
  );
});

test("SGLang and Ollama serve no hidden states: refused at load with the kinds that do", async () => {
  for (const kind of ["sglang", "ollama"] as const) {
    await assert.rejects(
      StreamGuard.load({
        model: modelDir,
        remote: { backends: [{ kind, url: "http://127.0.0.1:9", model: "m" }], healthIntervalMs: 0 },
      }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "ENGINE_OPTIONS_INVALID");
        assert.match(e.message, /serves no hidden states/);
        return true;
      },
    );
  }
});
