/**
 * The Gen decode batcher on a recording stand-in for the context: what waits at the same time goes into one
 * multi-sequence decode (small steps apart from prefills, small ones first), never past the token and output-row
 * limits; removals and copies keep their place in the order of submission; failures reach exactly the requests
 * they concern; with merging off, one decode per item in order.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DecodeItem } from "../../src/engine/llama-ffi/index.js";
import { GenDecodeBatcher, type GenBatchTarget } from "../../src/engine/gen/gen-batcher.js";

type Call =
  | { op: "decode"; items: { seq: number; tokens: number; pos: number; outputs: number }[] }
  | { op: "remove"; seq: number; from: number }
  | { op: "copy"; src: number; dst: number; from: number; to: number };

/** Records every call in the order the decode queue would run them; logits rows carry [seq, pos of the row]. */
function recorder(
  options: { failDecode?: (items: readonly DecodeItem[]) => boolean; failRemove?: number } = {},
) {
  const calls: Call[] = [];
  let chain = Promise.resolve();
  const run = <T>(task: () => T): Promise<T> => {
    const result = chain.then(async () => {
      await new Promise((r) => setImmediate(r)); // a decode takes a while
      return task();
    });
    chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };
  const target: GenBatchTarget = {
    readLogits: (items, read) =>
      run(() => {
        calls.push({
          op: "decode",
          items: items.map((i) => ({
            seq: i.seq,
            tokens: i.tokens.length,
            pos: i.pos!,
            outputs: i.outputAt!.length,
          })),
        });
        if (options.failDecode?.(items)) throw new Error("decode failed");
        const rows = items.map((i) => i.outputAt!.map((k) => new Float32Array([i.seq, i.pos! + k])));
        const value = read(rows);
        // like llama.cpp's output buffer, overwritten by the next decode: rows are valid only while read runs
        for (const row of rows.flat()) row.fill(NaN);
        return value;
      }),
    seqRemove: (seq, from) =>
      run(() => {
        calls.push({ op: "remove", seq, from });
        if (options.failRemove === seq) throw new Error(`cannot remove from ${seq}`);
      }),
    seqCopy: (src, dst, from = 0, to = -1) =>
      run(() => {
        calls.push({ op: "copy", src, dst, from, to });
      }),
  };
  return { calls, target };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

test("decodes submitted together go into one multi-sequence decode, each item getting its own rows", async () => {
  const { calls, target } = recorder();
  const b = new GenDecodeBatcher(target, { maxTokens: 512, maxOutputs: 32 });
  const results = await Promise.all([
    b.decode(0, ids(4), 10),
    b.decode(1, ids(3), 20, [0, 2]),
    b.decode(2, ids(2), 30),
  ]);
  assert.deepEqual(calls, [
    {
      op: "decode",
      items: [
        { seq: 0, tokens: 4, pos: 10, outputs: 1 },
        { seq: 1, tokens: 3, pos: 20, outputs: 2 },
        { seq: 2, tokens: 2, pos: 30, outputs: 1 },
      ],
    },
  ]);
  assert.deepEqual(
    results.map((rows) => rows.map((r) => [...r])),
    [
      [[0, 13]],
      [
        [1, 20],
        [1, 22],
      ],
      [[2, 31]],
    ],
  );
  assert.equal(b.stats.decodes, 1);
  assert.equal(b.stats.mergedDecodes, 1);
  assert.equal(b.stats.tokens, 9);
  assert.equal(b.stats.maxSequencesPerDecode, 3);
});

test("what is submitted while a decode runs waits for it and goes into the next one together", async () => {
  const { calls, target } = recorder();
  const b = new GenDecodeBatcher(target, { maxTokens: 512, maxOutputs: 32 });
  const first = b.decode(0, ids(2), 0);
  await new Promise((r) => setImmediate(r)); // the first round has started
  assert.ok(b.busy);
  const later = [b.decode(1, ids(2), 0), b.decode(2, ids(2), 0)];
  await Promise.all([first, ...later]);
  assert.deepEqual(
    calls.map((c) => (c.op === "decode" ? c.items.map((i) => i.seq) : c.op)),
    [[0], [1, 2]],
  );
  await new Promise((r) => setImmediate(r));
  assert.equal(b.busy, false);
});

test("small steps and prefills go into separate decodes, the small ones first; limits split decodes", async () => {
  const { calls, target } = recorder();
  const b = new GenDecodeBatcher(target, { maxTokens: 100, maxOutputs: 4, smallTokens: 8 });
  await Promise.all([
    b.decode(0, ids(60), 0), // prefill
    b.decode(1, ids(3), 0),
    b.decode(2, ids(60), 0), // prefill: 120 tokens with the first, over maxTokens
    b.decode(3, ids(4), 0, [0, 1, 2]),
    b.decode(4, ids(2), 0, [0, 1]), // outputs 1 + 3 + 2 > 4
  ]);
  assert.deepEqual(
    calls.map((c) => (c.op === "decode" ? c.items.map((i) => i.seq) : c.op)),
    [[0], [1, 3], [4], [2]],
    "each split sends the batch filled so far; the small batch goes before the prefill batch at the end",
  );
  await assert.rejects(b.decode(5, ids(9), 0, [0, 1, 2, 3, 4]), /5 logits rows/);
  await assert.rejects(b.decode(5, [], 0), /at least one token/);
});

test("a removal or copy keeps its place: the decodes of its sequences submitted before it run before it", async () => {
  const { calls, target } = recorder();
  const b = new GenDecodeBatcher(target, { maxTokens: 512, maxOutputs: 32 });
  await Promise.all([
    b.decode(0, ids(3), 0),
    b.remove(1, 5), // another sequence: no need to send sequence 0's decode first
    b.decode(1, ids(2), 5), // after the removal
    b.copy(0, 2, 0, 3), // reads sequence 0: its decode goes first
    b.decode(2, ids(1), 3),
    b.remove(0, 1),
  ]);
  assert.deepEqual(calls, [
    { op: "remove", seq: 1, from: 5 },
    {
      op: "decode",
      items: [
        { seq: 0, tokens: 3, pos: 0, outputs: 1 },
        { seq: 1, tokens: 2, pos: 5, outputs: 1 },
      ],
    },
    { op: "copy", src: 0, dst: 2, from: 0, to: 3 },
    { op: "remove", seq: 0, from: 1 },
    { op: "decode", items: [{ seq: 2, tokens: 1, pos: 3, outputs: 1 }] },
  ]);
  assert.equal(b.stats.removals, 2);
  assert.equal(b.stats.copies, 1);
});

test("a failed decode fails every request in it, and only those; a failed removal fails its sequence's next decode", async () => {
  const { target } = recorder({ failDecode: (items) => items.some((i) => i.seq === 1), failRemove: 3 });
  const b = new GenDecodeBatcher(target, { maxTokens: 512, maxOutputs: 32 });
  const settled = await Promise.allSettled([
    b.decode(0, ids(2), 0),
    b.decode(1, ids(2), 0),
    b.decode(2, ids(40), 0), // a prefill: another decode
    b.remove(3, 0),
    b.decode(3, ids(40), 0), // with sequence 2's prefill, which succeeds
  ]);
  assert.deepEqual(
    settled.map((s) => (s.status === "fulfilled" ? "ok" : (s.reason as Error).message)),
    ["decode failed", "decode failed", "ok", "cannot remove from 3", "cannot remove from 3"],
  );
  // the batcher goes on
  assert.equal((await b.decode(5, ids(40), 2)).length, 1);
});

test("with merging off, one decode per item, in the order submitted", async () => {
  const { calls, target } = recorder();
  const b = new GenDecodeBatcher(target, { maxTokens: 512, maxOutputs: 32, merge: false });
  await Promise.all([b.decode(0, ids(40), 0), b.decode(1, ids(3), 0), b.decode(2, ids(3), 0)]);
  assert.deepEqual(
    calls.map((c) => (c.op === "decode" ? c.items.map((i) => i.seq) : c.op)),
    [[0], [1], [2]],
  );
  assert.equal(b.stats.mergedDecodes, 0);
});

test("read takes what it needs from its rows while they are valid; a read that throws fails its own decode only", async () => {
  const { calls, target } = recorder();
  const b = new GenDecodeBatcher(target, { maxTokens: 512, maxOutputs: 32 });
  let kept: readonly Float32Array[] = [];
  const [sum, copies, failed, inPlace] = await Promise.allSettled([
    b.decode(0, ids(4), 10, [1, 3], (rows) => rows.reduce((n, row) => n + row[1]!, 0)),
    b.decode(1, ids(2), 20), // the default read: copies, which outlive the decode
    b.decode(2, ids(2), 30, undefined, () => {
      throw new Error("bad read");
    }),
    b.decode(3, ids(1), 40, undefined, (rows) => {
      kept = rows;
      return rows[0]![1];
    }),
  ]);
  assert.equal(calls.length, 1); // one merged decode
  assert.deepEqual(sum, { status: "fulfilled", value: 11 + 13 });
  assert.deepEqual(copies, { status: "fulfilled", value: [new Float32Array([1, 21])] });
  assert.equal(failed.status, "rejected");
  assert.match(String((failed as PromiseRejectedResult).reason), /bad read/);
  assert.deepEqual(inPlace, { status: "fulfilled", value: 40 });
  assert.ok(Number.isNaN(kept[0]![1])); // the row itself was the target's, not a copy
});
