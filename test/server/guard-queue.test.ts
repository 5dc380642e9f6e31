/** The bounded queue in front of a guard (no engine): capacity, FIFO order, 429 when full, aborts, held slots. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { GuardQueue } from "../../src/server/guard-queue.js";
import { HttpError } from "../../src/server/http-errors.js";

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

test("at most `capacity` jobs run; the rest start in FIFO order; a full queue refuses at once with 429", async () => {
  const depths: number[] = [];
  const q = new GuardQueue({
    name: "Gen",
    capacity: 2,
    maxWaiting: 2,
    retryAfterSeconds: 7,
    onDepth: (n) => depths.push(n),
  });
  const g = gate();
  const started: string[] = [];
  const job = (name: string) => async () => {
    started.push(name);
    await g.promise;
    return name;
  };
  const a = q.run([job("a1"), job("a2"), job("a3")]); // a3 waits: request a is waiting
  const b = q.run([job("b1")]);
  await tick();
  assert.deepEqual(started, ["a1", "a2"]);
  assert.equal(q.running, 2);
  assert.equal(q.waiting, 2);
  // a third request would wait: refused through its promise
  await assert.rejects(q.run([job("c")]), (e: unknown) => {
    assert.ok(e instanceof HttpError);
    assert.equal(e.statusCode, 429);
    assert.equal(e.code, "QUEUE_FULL");
    assert.equal(e.details.retryAfterSeconds, 7);
    assert.equal(e.details.type, "rate_limit_error");
    return true;
  });
  g.open();
  assert.deepEqual(await a, ["a1", "a2", "a3"]);
  assert.deepEqual(await b, ["b1"]);
  assert.deepEqual(started, ["a1", "a2", "a3", "b1"]);
  assert.equal(q.waiting, 0);
  assert.equal(depths.at(-1), 0);
  assert.ok(depths.includes(2));
});

test("an abort drops the jobs not started; a running job keeps its slot until it settles", async () => {
  const q = new GuardQueue({ name: "Gen", capacity: 1, maxWaiting: 5, retryAfterSeconds: 1 });
  const g = gate();
  const controller = new AbortController();
  let ran = 0;
  const slow = async () => {
    ran += 1;
    await g.promise;
  };
  const first = q.run([slow], controller.signal);
  const second = q.run([slow]);
  const third = q.run([slow, slow], controller.signal);
  await tick();
  controller.abort(new Error("gone"));
  await assert.rejects(first, /gone/);
  await assert.rejects(third, /gone/);
  assert.equal(q.running, 1, "the abandoned job still runs on the engine");
  assert.equal(q.waiting, 1, "only the second request still waits");
  g.open();
  await second;
  await tick();
  assert.equal(ran, 2, "the third request's jobs never started");
  assert.equal(q.running, 0);
});

test("a failing job rejects its request and frees its slot; hold() keeps a slot until released", async () => {
  const q = new GuardQueue({ name: "Stream", capacity: 1, maxWaiting: 1, retryAfterSeconds: 1 });
  await assert.rejects(
    q.run([
      async () => {
        throw new Error("boom");
      },
    ]),
    /boom/,
  );
  assert.equal(q.running, 0);
  const release = await q.hold();
  assert.equal(q.running, 1);
  let second: (() => void) | undefined;
  const waiting = q.hold().then((r) => (second = r));
  await tick();
  assert.equal(second, undefined);
  await assert.rejects(q.hold(), /busy/);
  release();
  release(); // idempotent
  await waiting;
  assert.equal(q.running, 1);
  second!();
  await tick();
  assert.equal(q.running, 0);
  const aborted = new AbortController();
  const blocker = await q.hold();
  const pending = q.hold(aborted.signal);
  aborted.abort(new Error("stop waiting"));
  await assert.rejects(pending, /stop waiting/);
  blocker();
  await tick();
  assert.equal(q.running, 0);
});
