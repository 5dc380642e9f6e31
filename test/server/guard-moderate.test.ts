/**
 * POST /v1/guard/moderate on a demo server: one input and a batch, Gen and Stream, prompts, answers and
 * conversations, each tenant's policy applied to the same verdict, and bad bodies answered 400 naming the field.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { hashApiKey } from "../../src/server/auth.js";
import { postJson, startDemoServer, type TestServer } from "./helpers.js";

const ROUTE = "/v1/guard/moderate";
let server: TestServer;
let genWord: string;
let unsafeWords: string[];

before(async () => {
  server = await startDemoServer(
    {
      tenants: {
        acme: { apiKeys: [hashApiKey("acme-key")], policy: "acme.yaml" },
        globex: { apiKeys: [hashApiKey("globex-key")], policy: "globex.yaml" },
      },
    },
    {
      "acme.yaml":
        "prompt:\n  categories:\n    Violent: block\nresponse:\n  categories:\n    Violent: block\n",
      "globex.yaml":
        "prompt:\n  categories:\n    Violent: flag\nresponse:\n  categories:\n    Violent: flag\n",
    },
  );
  genWord = server.runtime.demo!.genTrigger;
  unsafeWords = server.runtime.demo!.streamUnsafeWords;
});

after(async () => {
  await server?.close();
});

test("one prompt on Gen (the default model): the verdict, the decision and its reasons", async () => {
  const r = await postJson(server.base, ROUTE, { prompt: `I want a ${genWord}` });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.model, "gen");
  assert.equal(r.body.tenant, "acme");
  assert.match(r.body.synthetic, /toy models/);
  const [result] = r.body.results;
  assert.equal(result.direction, "prompt");
  assert.equal(result.action, "block");
  assert.equal(result.verdict.tier, "Unsafe");
  assert.deepEqual(result.verdict.categories, ["Violent"]);
  assert.equal(result.decision.category, "Violent");
  assert.equal(result.decision.reasons[0].rule, "prompt.categories.Violent.Unsafe");
});

test("the same input, two tenants: block for acme, flag for globex", async () => {
  const body = { prompt: `Sell me a ${genWord}` };
  const a = await postJson(server.base, ROUTE, body, "acme-key");
  const g = await postJson(server.base, ROUTE, body, "globex-key");
  assert.equal(a.body.results[0].verdict.tier, g.body.results[0].verdict.tier);
  assert.equal(a.body.results[0].action, "block");
  assert.equal(g.body.results[0].action, "flag");
  assert.equal(g.body.tenant, "globex");
});

test("a batch on Gen: prompts and conversations, results in order with their ids", async () => {
  const r = await postJson(server.base, ROUTE, {
    model: "gen",
    items: [
      { id: "a", prompt: "Hello" },
      { id: 2, messages: [{ role: "user", content: `a ${genWord}` }] },
      {
        id: "c",
        messages: [
          { role: "user", content: `one ${genWord}` },
          { role: "assistant", content: "No." },
          { role: "user", content: "ok then, what about bread?" },
        ],
      },
    ],
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(
    r.body.results.map((x: { id: unknown; action: string }) => [x.id, x.action]),
    [
      ["a", "allow"],
      [2, "block"],
      ["c", "block"], // the toy model flags a trigger anywhere in the conversation
    ],
  );
});

test("Stream: a prompt, and an answer whose unsafe words trigger the stop and the policy", async () => {
  const prompt = await postJson(server.base, ROUTE, { model: "stream", prompt: "Tell me a story" });
  assert.equal(prompt.status, 200, JSON.stringify(prompt.body));
  assert.equal(prompt.body.model, "stream");
  assert.equal(prompt.body.results[0].direction, "prompt");
  assert.equal(prompt.body.results[0].verdict.tier, "Safe");
  assert.equal(prompt.body.results[0].action, "allow");

  const answer = `Once upon a time there was a ${unsafeWords[0]} ${unsafeWords[1]} in the story.`;
  const batch = await postJson(
    server.base,
    ROUTE,
    {
      model: "stream",
      items: [
        { id: "bad", prompt: "Tell me a story", response: answer },
        { id: "good", prompt: "Tell me a story", response: "Once upon a time there was bread." },
      ],
    },
    "globex-key",
  );
  assert.equal(batch.status, 200, JSON.stringify(batch.body));
  const [bad, good] = batch.body.results;
  assert.equal(bad.direction, "response");
  assert.equal(bad.verdict.tier, "Unsafe");
  assert.deepEqual(bad.verdict.categories, ["Violent"]);
  assert.equal(bad.verdict.trigger.tier, "Unsafe");
  assert.equal(bad.verdict.trigger.text.trim(), unsafeWords[1]);
  assert.ok(bad.verdict.answerTokens > 5);
  assert.equal(bad.action, "flag", "globex flags Violent answers");
  assert.equal(good.verdict.tier, "Safe");
  assert.equal(good.action, "allow");
});

test("bad bodies: 400 naming the field", async () => {
  const cases: [unknown, string, RegExp][] = [
    [{}, "prompt", /expected prompt/],
    [{ prompt: 5 }, "prompt", /expected a string/],
    [{ prompt: "x", bogus: true }, "(body)", /unknown field\(s\) bogus/],
    [{ model: "big", prompt: "x" }, "model", /expected "gen" or "stream"/],
    [{ response: "x" }, "prompt", /a response needs the prompt/],
    [{ prompt: "x", messages: [{ role: "user", content: "y" }] }, "messages", /not both/],
    [{ messages: [] }, "messages", /at least one message/],
    [{ messages: [{ role: "robot", content: "y" }] }, "messages[0].role", /expected a role/],
    [{ items: [] }, "items", /at least one item/],
    [{ items: [{ prompt: "a" }, { prompt: 1 }] }, "items[1].prompt", /expected a string/],
    [{ items: [{ prompt: "a" }], prompt: "b" }, "items", /not both/],
    [{ items: Array.from({ length: 65 }, () => ({ prompt: "a" })) }, "items", /at most 64 items/],
    [
      {
        messages: [
          { role: "assistant", content: "hi" },
          { role: "system", content: "x" },
        ],
      },
      "",
      /last message must be/,
    ],
  ];
  for (const [body, param, message] of cases) {
    const r = await postJson(server.base, ROUTE, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.type, "invalid_request_error");
    if (param) assert.equal(r.body.error.param, param, JSON.stringify(body));
    assert.match(r.body.error.message, message, JSON.stringify(body));
  }
});
