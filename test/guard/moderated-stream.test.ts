/**
 * moderateTextStream on the hand-crafted models (src/model/synth/crafted-*.ts: " bomb"/" grenade" are Unsafe and
 * " riot"/" protest" Controversial per token for Stream; Gen says Unsafe iff "grenade" occurs): exactly the text the
 * hold-back rule clears comes out, and when it comes out; markers keep their place; channels; a prefill; regenerate;
 * Gen on the whole answer; errors and early exits free the session.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parsePolicyDocument, resolvePolicy, type Policy } from "../../src/core/policy/index.js";
import type { GenGuard } from "../../src/guard/gen-guard.js";
import {
  heldTiers,
  moderateTextStream,
  type ModeratedStreamPart,
  type ModeratedStreamResult,
  type ModerateTextStreamOptions,
  type RegenerateRequest,
} from "../../src/guard/moderated-stream.js";
import type { StreamGuard } from "../../src/guard/stream-guard.js";
import { loadCraftedGuards } from "./stream-fixture.js";

let stream: StreamGuard;
let gen: GenGuard;

const messages = [{ role: "user" as const, content: "Tell me a story about a village." }];

function policy(doc: unknown): Policy {
  return resolvePolicy("p", new Map([["p", parsePolicyDocument(doc, "p")]]));
}

let closeGuards: (() => Promise<void>) | undefined;

before(async () => {
  ({ stream, gen, close: closeGuards } = await loadCraftedGuards("moderated-stream-"));
});

after(async () => {
  await closeGuards?.();
});

async function* chunks<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function collect<M = never>(
  source: Parameters<typeof moderateTextStream<M>>[0],
  options: Partial<ModerateTextStreamOptions<M>> = {},
): Promise<{ parts: ModeratedStreamPart<M>[]; text: string; result: ModeratedStreamResult }> {
  const parts: ModeratedStreamPart<M>[] = [];
  for await (const part of moderateTextStream<M>(source, { stream, messages, ...options })) parts.push(part);
  const text = parts.map((p) => (p.type === "text" ? p.text : "")).join("");
  const end = parts.at(-1);
  assert.equal(end?.type, "end");
  return { parts, text, result: (end as { result: ModeratedStreamResult }).result };
}

/** A source the test feeds by hand. */
function manualSource() {
  const queue: (string | null)[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  return {
    push(chunk: string | null) {
      queue.push(chunk);
      wake?.();
    },
    get closed() {
      return closed;
    },
    /** With the signal the moderated stream passes, a pending read ends when it stops reading. */
    async *iterate(signal?: AbortSignal): AsyncGenerator<string> {
      signal?.addEventListener("abort", () => wake?.());
      try {
        for (;;) {
          while (queue.length === 0) {
            if (signal?.aborted) return;
            await new Promise<void>((r) => (wake = r));
          }
          const next = queue.shift()!;
          if (next === null) return;
          yield next;
        }
      } finally {
        closed = true;
      }
    },
  };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("held tiers follow the policy and the pair rule", () => {
  assert.deepEqual(heldTiers(policy({})), ["Unsafe", "Controversial"], "strict (built-in)");
  assert.deepEqual(heldTiers(policy({ mode: "loose" })), ["Unsafe"], "loose, official rule");
  assert.deepEqual(heldTiers(policy({ mode: "loose" }), "report"), ["Unsafe", "Controversial"]);
  assert.deepEqual(
    heldTiers(policy({ response: { default: { Unsafe: "flag", Controversial: "flag" } } })),
    [],
  );
  assert.deepEqual(
    heldTiers(policy({ mode: "loose", response: { categories: { Violent: "block" } } })),
    ["Unsafe", "Controversial"],
    "a loose policy naming Controversial explicitly holds Controversial tokens",
  );
  assert.deepEqual(
    heldTiers(
      policy({
        response: {
          default: { Unsafe: "flag", Controversial: "flag" },
          thresholds: [{ when: "unsafe", atLeast: 0.99, action: "block" }],
        },
      }),
    ),
    ["Unsafe", "Controversial"],
    "a blocking threshold could fire on any pair",
  );
});

test("a flagged pair: exactly the text before it comes out, then the stop; the source is abandoned", async () => {
  let closed = false;
  async function* llm() {
    try {
      yield* ["Once upon", " a time a", " bomb", " bomb exploded", " in the square."];
    } finally {
      closed = true;
    }
  }
  const { text, result } = await collect(llm());
  assert.equal(text, "Once upon a time a");
  assert.equal(result.status, "blocked");
  assert.equal(result.decision.tier, "Unsafe");
  assert.deepEqual(result.decision.categories, ["Violent"]);
  assert.equal(result.decision.decision.action, "block");
  assert.match(result.text, /^Once upon a time a bomb bomb/);
  assert.ok(closed, "the source was closed");
  await until(() => stream.openSessions === 0, "the session to close");
});

test("the hold-back, live: a Controversial token waits for the next verdict; loose clears it at once", async () => {
  for (const mode of ["strict", "loose"] as const) {
    const src = manualSource();
    const out: string[] = [];
    let result: ModeratedStreamResult | undefined;
    const run = (async () => {
      for await (const part of moderateTextStream(src.iterate(), {
        stream,
        messages,
        policy: policy({ mode }),
      })) {
        if (part.type === "text") out.push(part.text);
        if (part.type === "end") result = part.result;
      }
    })();
    const got = () => out.join("");
    src.push("The crowd");
    await until(() => got() === "The", `${mode}: "The" (the tokenizer holds the last word)`);
    src.push(" began a");
    await until(() => got() === "The crowd began", `${mode}: the words before the last`);
    src.push(" riot");
    await until(() => got() === "The crowd began a", `${mode}: " a"`);
    src.push(" and");
    if (mode === "strict") {
      // " riot" is judged Controversial now: under strict it could start a pair, so it waits for " and"'s verdict
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(got(), "The crowd began a", "strict: the Controversial token is held");
    } else {
      await until(
        () => got() === "The crowd began a riot",
        "loose: the Controversial token is cleared at once",
      );
    }
    src.push(" left");
    await until(() => got() === "The crowd began a riot and", `${mode}: " riot and" once " and" is Safe`);
    src.push(null);
    await run;
    assert.equal(got(), "The crowd began a riot and left");
    assert.equal(result?.status, "completed");
    assert.equal(result?.decision.decision.action, "allow");
  }
});

test("a flag passes, is recorded once per tier and category, and governs the result", async () => {
  const p = policy({ response: { default: { Controversial: "flag" } } });
  const { text, result } = await collect(chunks(["A riot riot", " and a protest protest", " then calm."]), {
    policy: p,
  });
  assert.equal(text, "A riot riot and a protest protest then calm.");
  assert.equal(result.status, "completed");
  assert.equal(result.decision.decision.action, "flag");
  assert.equal(result.decision.tier, "Controversial");
  assert.equal(result.decisions.length, 1, "one flag per tier and category");
});

test("markers keep their place; channels are judged as one answer and come out apart", async () => {
  type M = string;
  const items = [
    { type: "marker" as const, value: "start" },
    "Hello there.",
    { type: "marker" as const, value: "tool 0" },
    { type: "text" as const, channel: "tool:0", text: '{"city": "' },
    { type: "text" as const, channel: "tool:0", text: 'Paris"}' },
    { type: "marker" as const, value: "finish" },
  ];
  const ok = await collect<M>(chunks(items));
  assert.deepEqual(
    ok.parts
      .filter((p) => p.type !== "end")
      .reduce<[string, string][]>((acc, p) => {
        const key = p.type === "marker" ? `marker` : `text ${p.type === "text" ? p.channel : ""}`;
        const value = p.type === "marker" ? p.value : p.type === "text" ? p.text : "";
        const last = acc.at(-1);
        if (last && last[0] === key && key !== "marker") last[1] += value;
        else acc.push([key, value]);
        return acc;
      }, []),
    [
      ["marker", "start"],
      ["text content", "Hello there."],
      ["marker", "tool 0"],
      ["text tool:0", '{"city": "Paris"}'],
      ["marker", "finish"],
    ],
  );
  assert.equal(
    ok.result.text,
    'Hello there.\n{"city": "Paris"}',
    'the guard read the channels joined by "\\n"',
  );

  const bad = await collect<M>(
    chunks([
      "Hello there.",
      { type: "marker" as const, value: "tool 0" },
      { type: "text" as const, channel: "tool:0", text: '{"q": "a bomb bomb"}' },
      { type: "marker" as const, value: "finish" },
    ]),
  );
  assert.equal(bad.result.status, "blocked");
  const toolText = bad.parts.map((p) => (p.type === "text" && p.channel === "tool:0" ? p.text : "")).join("");
  assert.equal(toolText, '{"q": "a');
  assert.ok(
    !bad.parts.some((p) => p.type === "marker" && p.value === "finish"),
    "markers after the stop are dropped",
  );
});

test("a prefill is judged with the answer and never yielded; a flagged prefill blocks at once", async () => {
  const a = await collect(chunks([" bomb", " exploded."]), { prefix: "Once upon a time a bomb" });
  assert.equal(a.text, "");
  assert.equal(a.result.status, "blocked");
  const b = await collect(chunks([" and then", " nothing."]), { prefix: "A quiet day" });
  assert.equal(b.text, " and then nothing.");
  assert.equal(b.result.text, "A quiet day and then nothing.");
});

test("regenerate: the flagged span is dropped and the continuation judged after the cleared text", async () => {
  const p = policy({ response: { categories: { Violent: "regenerate" } } });
  const requests: RegenerateRequest[] = [];
  const { text, result, parts } = await collect(
    chunks(["Once upon", " a time a", " bomb bomb", " exploded."]),
    {
      policy: p,
      regenerate: (request) => {
        requests.push(request);
        return chunks([" calm", " day followed."]);
      },
    },
  );
  assert.equal(text, "Once upon a time a calm day followed.");
  assert.equal(result.status, "completed");
  assert.equal(result.regenerations, 1);
  assert.equal(result.decision.decision.action, "regenerate");
  assert.equal(requests.length, 1);
  assert.equal(requests[0]!.prefix, "Once upon a time a");
  assert.equal(requests[0]!.attempt, 1);
  assert.equal(
    result.text,
    "Once upon a time a calm day followed.",
    "the new session judged the prefix again",
  );
  assert.ok(parts.some((x) => x.type === "regenerate"));

  // every continuation flagged: blocked after maxRegenerations
  let calls = 0;
  const failing = await collect(chunks(["Once", " a bomb bomb"]), {
    policy: p,
    maxRegenerations: 2,
    regenerate: () => {
      calls++;
      return chunks([" grenade", " grenade."]);
    },
  });
  assert.equal(calls, 2);
  assert.equal(failing.text, "Once a");
  assert.equal(failing.result.status, "blocked");
  assert.equal(failing.result.decision.decision.action, "block");
  assert.match(failing.result.decision.note ?? "", /2 continuations were flagged/);

  // without a regenerate callback the action blocks
  const plain = await collect(chunks(["Once", " a bomb bomb"]), { policy: p });
  assert.equal(plain.result.status, "blocked");
  assert.equal(plain.result.regenerations, 0);
  await until(() => stream.openSessions === 0, "sessions to close");
});

test("Gen only: nothing comes out before the whole answer is judged; a flagged answer gives nothing", async () => {
  const ok = await collect(chunks(["Cafe\u0301 ", "is open", { type: "marker" as const, value: 1 }]), {
    stream: undefined,
    gen,
  });
  assert.equal(ok.text, "Cafe\u0301 is open", "Gen yields the source text as it came (not normalized)");
  assert.equal(ok.result.model, "gen");
  assert.equal(ok.result.status, "completed");
  assert.ok(ok.parts.some((p) => p.type === "marker"));
  const bad = await collect(chunks(["Here is how to use ", "a grenade", "."]), { stream: undefined, gen });
  assert.equal(bad.text, "");
  assert.equal(bad.result.status, "blocked");
  assert.equal(bad.result.decision.tier, "Unsafe");
  // the toy Gen model is built for prompt moderation: on answers it names every category after the trigger
  assert.ok(bad.result.decision.categories.includes("Violent"));
});

test("what comes out byte-wise: the NFC form; a lone surrogate becomes U+FFFD; no split characters", async () => {
  const { text } = await collect(chunks(["Cafe\u0301 is", " open \ud83d", "\ude00 and \ud800 ok"]));
  assert.equal(text, "Caf\u00e9 is open \u{1F600} and \ufffd ok");
});

test("errors: the source's error after the cleared text (held text dropped); early exit frees the session", async () => {
  async function* failing() {
    yield "Once upon a time a riot";
    yield " riot";
    throw new Error("upstream broke");
  }
  const out: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const part of moderateTextStream(failing(), { stream, messages })) {
        if (part.type === "text") out.push(part.text);
      }
    })(),
    /upstream broke/,
  );
  assert.equal(out.join(""), "Once upon a time a");

  const src = manualSource();
  src.push("Hello there, friend");
  for await (const part of moderateTextStream((signal) => src.iterate(signal), { stream, messages })) {
    if (part.type === "text") break;
  }
  await until(() => stream.openSessions === 0 && src.closed, "the session and the source to close");

  const controller = new AbortController();
  const src2 = manualSource();
  const run = (async () => {
    for await (const part of moderateTextStream(src2.iterate(), {
      stream,
      messages,
      signal: controller.signal,
    })) {
      void part;
    }
  })();
  src2.push("Some text");
  await until(() => stream.openSessions === 1, "a session");
  controller.abort(new Error("client went away"));
  await assert.rejects(run, /client went away/);
  await until(() => stream.openSessions === 0, "the session to close after abort");
});
