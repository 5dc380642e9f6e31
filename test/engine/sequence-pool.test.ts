/**
 * The Gen sequence pool on fake sequences: first come first served with direct hand-off (a newcomer never
 * overtakes a woken waiter), the prefix-sharing choice among free sequences, and what happens when a failed
 * request's sequence cannot be reset (retried, then retired; a pool with nothing left fails requests with a
 * typed error instead of hanging).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  GenEngineBrokenError,
  MIN_USEFUL_SHARED_PREFIX,
  RESET_ATTEMPTS,
  SequencePool,
} from "../../src/engine/gen/sequence-pool.js";

interface FakeSequence {
  id: number;
  tokens: number[];
  /** Set by a failed request; a reset clears it. */
  dirty: boolean;
}

function sequences(n: number): FakeSequence[] {
  return Array.from({ length: n }, (_, id) => ({ id, tokens: [], dirty: false }));
}

const tick = () => new Promise((r) => setImmediate(r));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test("first come first served: a released sequence goes to the oldest waiter, not to a newcomer", async () => {
  const pool = new SequencePool(sequences(1), { reset: async () => {} });
  const order: string[] = [];
  const gate = deferred();
  const a = pool.use([1], async () => {
    order.push("A");
    await gate.promise;
  });
  await tick();
  const b = pool.use([1], async () => void order.push("B"));
  await tick();
  assert.equal(pool.waiting, 1);
  // A finishes; in the same tick, before B's continuation runs, a newcomer C asks for a sequence.
  gate.resolve();
  await a;
  const c = pool.use([1], async () => void order.push("C"));
  await Promise.all([b, c]);
  assert.deepEqual(order, ["A", "B", "C"]);
});

test("a caller asking in the same tick as a release waits behind the woken waiter", async () => {
  const pool = new SequencePool(sequences(1), { reset: async () => {} });
  const first = await pool.acquire([]);
  const got: string[] = [];
  const b = pool.acquire([]).then((s) => (got.push("B"), s));
  await tick();
  pool.release(first);
  // Same tick as the release: the sequence was already handed to B, so C waits.
  const c = pool.acquire([]).then((s) => (got.push("C"), s));
  pool.release(await b);
  await c;
  assert.deepEqual(got, ["B", "C"]);
});

test("many waiters are served in the order they asked, even with newcomers arriving at every release", async () => {
  const pool = new SequencePool(sequences(2), { reset: async () => {} });
  const served: number[] = [];
  const all: Promise<void>[] = [];
  for (let i = 0; i < 12; i++) {
    all.push(
      pool.use([i], async () => {
        served.push(i);
        await tick();
      }),
    );
  }
  await Promise.all(all);
  assert.deepEqual(served, [...Array(12).keys()]);
});

test("a free sequence sharing a long prefix is preferred; a short shared prefix goes to an empty sequence", async () => {
  const [warm, empty] = sequences(2);
  const head = Array.from({ length: MIN_USEFUL_SHARED_PREFIX + 5 }, (_, i) => i);
  warm!.tokens = [...head, 1000];
  const pool = new SequencePool([empty!, warm!], { reset: async () => {} });
  assert.equal(await pool.use([...head, 2000], async (s) => s.id), warm!.id);
  assert.equal(await pool.use([0, 1, 2], async (s) => s.id), empty!.id);
});

test("a failed request's sequence is reset (retried once) before anyone else gets it", async () => {
  const [seq] = sequences(1);
  let calls = 0;
  const pool = new SequencePool([seq!], {
    reset: async (s) => {
      calls++;
      if (calls === 1) throw new Error("transient reset failure");
      s.dirty = false;
      s.tokens = [];
    },
  });
  await assert.rejects(
    pool.use([1], async (s) => {
      s.dirty = true;
      s.tokens.push(1, 2, 3);
      throw new Error("decode failed");
    }),
    /decode failed/,
  );
  assert.equal(calls, 2, "the reset was retried");
  assert.equal(pool.live, 1);
  const state = await pool.use([1], async (s) => ({ dirty: s.dirty, tokens: [...s.tokens] }));
  assert.deepEqual(state, { dirty: false, tokens: [] }, "handed out clean");
});

test("a sequence whose reset keeps failing is retired and never handed out again", async () => {
  const [bad, good] = sequences(2);
  const retired: [unknown, number][] = [];
  const pool = new SequencePool([bad!, good!], {
    reset: async (s) => {
      if (s.id === bad!.id) throw new Error("reset failed for good");
      s.dirty = false;
    },
    onRetire: (error, live) => retired.push([error, live]),
  });
  // The first request gets the first free (empty) sequence: the bad one.
  await assert.rejects(
    pool.use([], async (s) => {
      assert.equal(s.id, bad!.id);
      s.dirty = true;
      throw new Error("engine error");
    }),
    /engine error/,
  );
  assert.equal(pool.live, 1);
  assert.equal(retired.length, 1);
  assert.match(String((retired[0]![0] as Error).message), /reset failed/);
  assert.equal(retired[0]![1], 1);
  for (let i = 0; i < 5; i++) {
    const id = await pool.use([], async (s) => {
      assert.equal(s.dirty, false);
      return s.id;
    });
    assert.equal(id, good!.id, "only the healthy sequence serves");
  }
});

test("when every sequence is retired, waiting and new requests fail with GenEngineBrokenError (no hang)", async () => {
  const pool = new SequencePool(sequences(1), {
    reset: async () => {
      throw new Error("KV cache gone");
    },
  });
  const gate = deferred();
  const failing = pool.use([], async () => {
    await gate.promise;
    throw new Error("engine error");
  });
  await tick();
  const waiting = pool.use([], async () => "never");
  await tick();
  assert.equal(pool.waiting, 1);
  gate.resolve();
  await assert.rejects(failing, /engine error/);
  await assert.rejects(waiting, (e: unknown) => {
    assert.ok(e instanceof GenEngineBrokenError);
    assert.equal(e.code, "GEN_ENGINE_BROKEN");
    assert.match(e.message, /KV cache gone/);
    assert.match(e.message, /load it again/);
    return true;
  });
  await assert.rejects(
    pool.use([], async () => "never"),
    GenEngineBrokenError,
  );
  assert.equal(pool.live, 0);
});

test(`the reset is attempted ${RESET_ATTEMPTS} times before a sequence is retired`, async () => {
  let calls = 0;
  const pool = new SequencePool(sequences(1), {
    reset: async () => {
      calls++;
      throw new Error("no");
    },
  });
  await assert.rejects(
    pool.use([], () => Promise.reject(new Error("request failed"))),
    /request failed/,
  );
  assert.equal(calls, RESET_ATTEMPTS);
});
