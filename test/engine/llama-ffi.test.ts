import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  LlamaFfiContext,
  LlamaFfiModel,
  LlamaDecodeError,
  LlamaFfiInputError,
  llamaDecodeQueue,
  type LlamaFfiContextOptions,
} from "../../src/engine/llama-ffi/index.js";
import { maxAbsDiff, tinyModelFixture, tokenIds, type TinyModelFixture } from "./llama-ffi-fixture.js";

let fx: TinyModelFixture;
let model: LlamaFfiModel;

// One thread: the test machine is shared, and spinning ggml threads collapse under load.
const exact: LlamaFfiContextOptions = { nCtx: 256, kvType: "f32", flashAttention: false, threads: 1 };

before(async () => {
  fx = await tinyModelFixture();
  model = await LlamaFfiModel.load(fx.library, fx.gguf);
});

after(() => {
  model?.dispose();
  fx?.cleanup();
});

async function withContext<T>(
  options: LlamaFfiContextOptions,
  fn: (ctx: LlamaFfiContext) => Promise<T>,
): Promise<T> {
  const ctx = await LlamaFfiContext.create(model, options);
  try {
    return await fn(ctx);
  } finally {
    await ctx.dispose();
  }
}

test("the model reports the synthetic config's shapes", () => {
  assert.equal(model.nEmbd, fx.reference.config.hiddenSize);
  assert.equal(model.nVocab, fx.reference.config.vocabSize);
  assert.equal(model.nLayer, fx.reference.config.numHiddenLayers);
});

test("one batched decode returns every position's post-norm hidden state, matching the F32 reference", async () => {
  const ids = tokenIds(28, 1);
  const expected = fx.reference.forward(ids).hidden;
  await withContext(exact, async (ctx) => {
    const [hidden] = await ctx.decode([{ seq: 0, tokens: ids }]);
    assert.ok(hidden);
    assert.equal(hidden.length, ids.length);
    assert.ok(maxAbsDiff(hidden, expected) < 1e-4, `max diff ${maxAbsDiff(hidden, expected)}`);
    assert.equal(ctx.seqPosMax(0), ids.length - 1);
  });
});

test("prefix then chunk equals one-shot decode (incremental KV)", async () => {
  const ids = tokenIds(28, 2);
  await withContext(exact, async (ctx) => {
    const [oneShot] = await ctx.decode([{ seq: 0, tokens: ids }]);
    await ctx.clear();
    assert.equal(ctx.seqPosMax(0), -1);
    const [prefix] = await ctx.decode([{ seq: 0, tokens: ids.slice(0, 20) }]);
    const [chunk] = await ctx.decode([{ seq: 0, tokens: ids.slice(20) }]);
    assert.ok(oneShot && prefix && chunk);
    assert.ok(maxAbsDiff([...prefix, ...chunk], oneShot) < 1e-5);
    // and the chunk's states are those of the reference at positions 20..27
    assert.ok(maxAbsDiff(chunk, fx.reference.forward(ids).hidden.slice(20)) < 1e-4);
  });
});

test("rollback with seqRemove then re-decode gives the states of the new continuation", async () => {
  const prefix = tokenIds(20, 3);
  const first = tokenIds(8, 4);
  const second = tokenIds(8, 5);
  await withContext(exact, async (ctx) => {
    await ctx.decode([{ seq: 0, tokens: prefix }]);
    const [a1] = await ctx.decode([{ seq: 0, tokens: first }]);
    await ctx.seqRemove(0, prefix.length);
    assert.equal(ctx.seqPosMax(0), prefix.length - 1);
    const [b] = await ctx.decode([{ seq: 0, tokens: second }]);
    await ctx.seqRemove(0, prefix.length);
    const [a2] = await ctx.decode([{ seq: 0, tokens: first }]);
    assert.ok(a1 && a2 && b);
    assert.ok(maxAbsDiff(a1, a2) < 1e-6, "re-decoding the same continuation after rollback is identical");
    const expected = fx.reference.forward([...prefix, ...second]).hidden.slice(prefix.length);
    assert.ok(maxAbsDiff(b, expected) < 1e-4, `max diff ${maxAbsDiff(b, expected)}`);
  });
});

test("two sequences interleaved in one decode equal separate decodes", async () => {
  const a = tokenIds(12, 6);
  const b = tokenIds(9, 7);
  const [sepA, sepB] = await withContext(exact, async (ctx) => {
    const [x] = await ctx.decode([{ seq: 0, tokens: a }]);
    await ctx.clear();
    const [y] = await ctx.decode([{ seq: 0, tokens: b }]);
    return [x, y];
  });
  await withContext({ ...exact, nSeqMax: 2 }, async (ctx) => {
    // first halves in one decode, then the rest with the sequences in the other order
    const [a1, b1] = await ctx.decode([
      { seq: 0, tokens: a.slice(0, 5) },
      { seq: 1, tokens: b.slice(0, 4) },
    ]);
    const [b2, a2] = await ctx.decode([
      { seq: 1, tokens: b.slice(4) },
      { seq: 0, tokens: a.slice(5) },
    ]);
    assert.ok(a1 && a2 && b1 && b2 && sepA && sepB);
    assert.ok(maxAbsDiff([...a1, ...a2], sepA) < 1e-5, `seq 0: ${maxAbsDiff([...a1, ...a2], sepA)}`);
    assert.ok(maxAbsDiff([...b1, ...b2], sepB) < 1e-5, `seq 1: ${maxAbsDiff([...b1, ...b2], sepB)}`);
    assert.equal(ctx.seqPosMax(0), a.length - 1);
    assert.equal(ctx.seqPosMax(1), b.length - 1);
  });
});

test("inputs longer than nBatch are split into several decodes with the same result", async () => {
  const ids = tokenIds(30, 8);
  const expected = fx.reference.forward(ids).hidden;
  await withContext({ ...exact, nBatch: 8, nUbatch: 4 }, async (ctx) => {
    const [hidden] = await ctx.decode([{ seq: 0, tokens: ids }]);
    assert.ok(hidden);
    assert.ok(maxAbsDiff(hidden, expected) < 1e-4);
  });
});

test("an embeddings context sends at most nUbatch outputs per llama_decode, with the result of one call", async () => {
  // llama.cpp keeps a vocabulary-sized logits row per output of a call (garbage here): calls of nUbatch tokens
  // bound that buffer, and llama.cpp computes nUbatch tokens at a time anyway
  const ids = tokenIds(30, 11);
  const options = { ...exact, nSeqMax: 2, nBatch: 32, nUbatch: 8 };
  const decodeBoth = (ctx: LlamaFfiContext) =>
    ctx.decode([
      { seq: 0, tokens: ids.slice(0, 17) },
      { seq: 1, tokens: ids.slice(17) },
    ]);
  const [single, both] = await withContext({ ...options, nOutputsMax: 32 }, async (ctx) => {
    assert.equal(ctx.nOutputsMax, 32);
    const [one] = await ctx.decode([{ seq: 0, tokens: ids }]);
    await ctx.clear();
    return [one!, await decodeBoth(ctx)] as const;
  });
  await withContext(options, async (ctx) => {
    assert.equal(ctx.nOutputsMax, 8, "the default of an embeddings context is nUbatch");
    const [one] = await ctx.decode([{ seq: 0, tokens: ids }]);
    assert.equal(one?.length, 30);
    // one sequence: the same ubatches, so the same bits
    assert.equal(maxAbsDiff(one!, single), 0);
    await ctx.clear();
    const split = await decodeBoth(ctx);
    assert.deepEqual(
      split.map((rows) => rows.length),
      [17, 13],
    );
    // two sequences: llama.cpp groups a call's tokens into ubatches its own way, so the last bits may differ
    assert.ok(maxAbsDiff(split.flat(), both.flat()) < 1e-5);
    assert.equal(ctx.seqPosMax(0), 16);
    assert.equal(ctx.seqPosMax(1), 12);
  });
  await withContext({ ...options, embeddings: false }, async (ctx) => {
    assert.equal(ctx.nOutputsMax, 32, "the default of a logits context is nBatch");
  });
});

test("skipLmHead stops the graph at the final norm and leaves the hidden states unchanged", async () => {
  const ids = tokenIds(24, 9);
  const full = await withContext(exact, async (ctx) => (await ctx.decode([{ seq: 0, tokens: ids }]))[0]);
  await withContext({ ...exact, skipLmHead: true }, async (ctx) => {
    const [skipped] = await ctx.decode([{ seq: 0, tokens: ids }]);
    assert.ok(skipped && full);
    assert.equal(maxAbsDiff(skipped, full), 0);
    assert.equal(ctx.lmHeadSkip?.lastStopNode, "result_embd_pooled");
    assert.ok((ctx.lmHeadSkip?.stops ?? 0) >= 1, "the graph was cut short");
  });
  await assert.rejects(
    LlamaFfiContext.create(model, { ...exact, embeddings: false, skipLmHead: true }),
    LlamaFfiInputError,
  );
});

test("a logits context returns next-token logits: the tied LM head applied to the reference's last hidden state", async () => {
  const ids = tokenIds(10, 10);
  assert.equal(fx.reference.config.tieWordEmbeddings, true);
  const last = fx.reference.forward(ids).hidden[ids.length - 1] as Float32Array;
  const expected = new Float32Array(model.nVocab);
  for (let v = 0; v < expected.length; v++) {
    const row = fx.reference.embedding(v);
    let sum = 0;
    for (let j = 0; j < last.length; j++) sum += (row[j] as number) * (last[j] as number);
    expected[v] = sum;
  }
  await withContext({ ...exact, embeddings: false }, async (ctx) => {
    const [logits] = await ctx.decodeLogits([{ seq: 0, tokens: ids }]);
    assert.ok(logits);
    assert.equal(logits.length, model.nVocab);
    assert.ok(maxAbsDiff([logits], [expected]) < 1e-3, `max diff ${maxAbsDiff([logits], [expected])}`);
    await assert.rejects(ctx.decode([{ seq: 0, tokens: [1] }]), LlamaFfiInputError);
  });
});

for (const nOutputsMax of [4, 1]) {
  test(`readLogits reads the rows decodeLogitsAt copies, in place, inside the decode queue (nOutputsMax ${nOutputsMax})`, async () => {
    // with nOutputsMax 1 the two rows come from two llama_decode calls: the first is copied, the last read in place
    const ids = tokenIds(12, 12);
    const items = [{ seq: 0, tokens: ids, outputAt: [3, 11] }];
    await withContext({ ...exact, embeddings: false, nOutputsMax }, async (ctx) => {
      const copied = await ctx.decodeLogitsAt(items);
      await ctx.clear();
      // another decode queued behind it cannot touch the rows while read runs
      let read: number[][] = [];
      const first = ctx.readLogits(items, (rows) => {
        read = rows[0]!.map((row) => Array.from(row));
        return rows[0]!.length;
      });
      const second = ctx.decodeLogits([{ seq: 0, tokens: [ids[0]!] }]);
      assert.equal(await first, 2);
      await second;
      assert.equal(read.length, 2);
      assert.equal(maxAbsDiff([Float32Array.from(read[0]!)], [copied[0]![0]!]), 0);
      assert.equal(maxAbsDiff([Float32Array.from(read[1]!)], [copied[0]![1]!]), 0);
      await assert.rejects(
        ctx.readLogits([{ seq: 0, tokens: [1], outputAt: [1] }], () => 0),
        LlamaFfiInputError,
      );
    });
  });
}

test("concurrent decodes on two contexts are serialized by the process-wide queue", async () => {
  const before = llamaDecodeQueue.settled;
  const a = tokenIds(16, 11);
  const b = tokenIds(16, 12);
  const c1 = await LlamaFfiContext.create(model, exact);
  const c2 = await LlamaFfiContext.create(model, exact);
  try {
    // fire everything at once, without awaiting in between
    const calls = [c1, c2, c1, c2].map((ctx, i) =>
      ctx.decode([{ seq: 0, tokens: (i % 2 ? b : a).slice((i >> 1) * 8, (i >> 1) * 8 + 8) }]),
    );
    // all four went to the one process-wide queue: one running, the rest waiting
    assert.equal(llamaDecodeQueue.running + llamaDecodeQueue.pending, 4);
    const results = await Promise.all(calls);
    assert.equal(llamaDecodeQueue.maxConcurrency, 1);
    assert.ok(llamaDecodeQueue.settled - before >= 4);
    const got1 = [...(results[0]?.[0] ?? []), ...(results[2]?.[0] ?? [])];
    const got2 = [...(results[1]?.[0] ?? []), ...(results[3]?.[0] ?? [])];
    assert.ok(maxAbsDiff(got1, fx.reference.forward(a).hidden) < 1e-4);
    assert.ok(maxAbsDiff(got2, fx.reference.forward(b).hidden) < 1e-4);
  } finally {
    await c1.dispose();
    await c2.dispose();
  }
});

test("a full KV cache gives a typed kv-full error and leaves the cache as it was", async () => {
  await withContext({ ...exact, nCtx: 256, skipLmHead: true }, async (ctx) => {
    await ctx.decode([{ seq: 0, tokens: tokenIds(250, 13) }]);
    const err = await ctx.decode([{ seq: 0, tokens: tokenIds(10, 14) }]).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof LlamaDecodeError, `got ${String(err)}`);
    assert.equal(err.failure, "kv-full");
    assert.equal(ctx.seqPosMax(0), 249);
  });
});

test("bad input is refused with typed errors before reaching llama.cpp", async () => {
  await withContext(exact, async (ctx) => {
    await assert.rejects(ctx.decode([{ seq: 0, tokens: [model.nVocab] }]), LlamaFfiInputError);
    await assert.rejects(ctx.decode([{ seq: 0, tokens: [1.5] }]), LlamaFfiInputError);
    await assert.rejects(ctx.decode([{ seq: 1, tokens: [1] }]), /out of range/);
    await assert.rejects(ctx.seqRemove(0, -1), LlamaFfiInputError);
  });
  await assert.rejects(LlamaFfiModel.load(fx.library, "/nonexistent/model.gguf"), LlamaFfiInputError);
  await assert.rejects(LlamaFfiContext.create(model, { nCtx: 0 }), LlamaFfiInputError);
  const ctx = await LlamaFfiContext.create(model, exact);
  assert.throws(() => model.dispose(), /live context/);
  await ctx.dispose();
  assert.throws(() => ctx.seqPosMax(0), /disposed/);
});

test("seqCopy: a sequence given another's prefix decodes as if it had evaluated the prefix itself", async () => {
  const head = tokenIds(40, 15);
  const tailA = tokenIds(9, 16);
  const tailB = tokenIds(6, 17);
  const own = await withContext({ ...exact, embeddings: false }, async (ctx) => {
    const [a] = await ctx.decodeLogits([{ seq: 0, tokens: [...head, ...tailA] }]);
    await ctx.clear();
    const [b] = await ctx.decodeLogits([{ seq: 0, tokens: [...head, ...tailB] }]);
    return [a!, b!];
  });
  // Unified KV: the donor holds the head and more; the copy takes only the head's positions (tags, no data).
  await withContext({ ...exact, embeddings: false, nSeqMax: 3, kvUnified: true, nCtx: 512 }, async (ctx) => {
    assert.equal(ctx.kvUnified, true);
    await ctx.decodeLogits([{ seq: 0, tokens: [...head, ...tokenIds(5, 18)] }]);
    await ctx.seqCopy(0, 1, 0, head.length);
    await ctx.seqCopy(0, 2, 0, head.length);
    assert.equal(ctx.seqPosMax(1), head.length - 1);
    // the donor goes on (its rollback leaves the copies alone), the receivers decode their own tails together
    await ctx.seqRemove(0, 10);
    const [a, b] = await ctx.decodeLogits([
      { seq: 1, tokens: tailA },
      { seq: 2, tokens: tailB },
    ]);
    assert.ok(maxAbsDiff([a!], [own[0]!]) < 1e-5, `seq 1: ${maxAbsDiff([a!], [own[0]!])}`);
    assert.ok(maxAbsDiff([b!], [own[1]!]) < 1e-5, `seq 2: ${maxAbsDiff([b!], [own[1]!])}`);
  });
  // One stream per sequence: the whole donor is copied (during the next decode), then trimmed to the head.
  await withContext({ ...exact, embeddings: false, nSeqMax: 2, nCtx: 512 }, async (ctx) => {
    assert.equal(ctx.kvUnified, false);
    await ctx.decodeLogits([{ seq: 0, tokens: [...head, ...tokenIds(5, 18)] }]);
    await assert.rejects(ctx.seqCopy(0, 1, 0, head.length), /whole sequences only/);
    await ctx.seqCopy(0, 1);
    await ctx.seqRemove(1, head.length);
    const [a] = await ctx.decodeLogits([{ seq: 1, tokens: tailA }]);
    assert.ok(maxAbsDiff([a!], [own[0]!]) < 1e-5, `streams: ${maxAbsDiff([a!], [own[0]!])}`);
  });
  await withContext(exact, async (ctx) => {
    await assert.rejects(ctx.seqCopy(0, 1), /out of range/);
    await assert.rejects(ctx.seqCopy(0, 0, 5, 3), LlamaFfiInputError);
  });
});
