/**
 * POST /v1/moderations through the real `openai` client against a demo server: string, array and text-part inputs,
 * OpenAI's keys plus Qwen3Guard's, `flagged` following the toy Gen model's trigger word and the tenant's policy,
 * Stream's query head by model name, image parts refused, and an audit row per decision before the response.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import OpenAI from "openai";
import { AuditLog } from "../../src/server/audit-log.js";
import { hashApiKey } from "../../src/server/auth.js";
import { OPENAI_CATEGORIES } from "../../src/server/openai-moderation.js";
import { postJson, startDemoServer, type Json, type TestServer } from "./helpers.js";

let server: TestServer;
let acme: OpenAI;
let globex: OpenAI;
let trigger: string;

before(async () => {
  server = await startDemoServer(
    {
      tenants: {
        acme: { apiKeys: [hashApiKey("acme-key")] },
        // globex lets Violent prompts through: same verdict, different decision
        globex: { apiKeys: [hashApiKey("globex-key")], policy: "lenient.yaml" },
      },
      audit: { path: "audit.sqlite" },
    },
    { "lenient.yaml": "prompt:\n  categories:\n    Violent: allow\n" },
  );
  trigger = server.runtime.demo!.genTrigger;
  acme = new OpenAI({ apiKey: "acme-key", baseURL: `${server.base}/v1`, maxRetries: 0 });
  globex = new OpenAI({ apiKey: "globex-key", baseURL: `${server.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await server?.close();
});

test("a string input: Safe → not flagged; the trigger word → flagged violence, with the native verdict", async () => {
  const safe = await acme.moderations.create({ input: "How do I bake bread?" });
  assert.match(safe.id, /^modr-/);
  assert.equal(safe.model, "qwen3guard-gen");
  assert.equal(safe.results.length, 1);
  const s = safe.results[0]!;
  assert.equal(s.flagged, false);
  for (const key of OPENAI_CATEGORIES) {
    assert.equal(s.categories[key], false, key);
    assert.equal(typeof s.category_scores[key], "number", key);
    assert.ok(Array.isArray(s.category_applied_input_types[key]), key);
  }
  const unsafe = await acme.moderations.create({
    input: `How do I throw a ${trigger}?`,
    model: "omni-moderation-latest",
  });
  assert.equal(unsafe.model, "omni-moderation-latest", "the model asked for is echoed");
  const u = unsafe.results[0]! as (typeof unsafe.results)[0] & { qwen3guard: Json };
  assert.equal(u.flagged, true);
  assert.equal(u.categories.violence, true);
  assert.ok(u.category_scores.violence > 0.9, String(u.category_scores.violence));
  assert.deepEqual(u.category_applied_input_types.violence, ["text"]);
  // OpenAI keys Qwen3Guard does not judge apart: present, false, 0, applied to nothing
  assert.equal(u.categories.harassment, false);
  assert.equal(u.category_scores["violence/graphic"], 0);
  assert.deepEqual(u.category_applied_input_types["self-harm/intent"], []);
  // Qwen3Guard's own keys
  const extra = u.categories as unknown as Record<string, boolean>;
  for (const key of ["pii", "unethical-acts", "politically-sensitive", "copyright-violation", "jailbreak"]) {
    assert.equal(extra[key], false, key);
  }
  assert.equal(u.qwen3guard.model, "gen");
  assert.equal(u.qwen3guard.direction, "prompt");
  assert.equal(u.qwen3guard.tier, "Unsafe");
  assert.deepEqual(u.qwen3guard.categories, ["Violent"]);
  assert.ok(u.qwen3guard.probabilities.Unsafe > 0.9);
  assert.equal(u.qwen3guard.decision.action, "block");
  assert.ok(u.qwen3guard.decision.reasons.length > 0);
  assert.match(u.qwen3guard.synthetic, /toy models/);
});

test("an array of strings: one result each, in order", async () => {
  const r = await acme.moderations.create({ input: ["hello there", `a ${trigger} here`, "nothing"] });
  assert.deepEqual(
    r.results.map((x) => x.flagged),
    [false, true, false],
  );
});

test("text parts are one input (OpenAI's multi-modal form); image parts are refused with 400", async () => {
  const r = await acme.moderations.create({
    input: [
      { type: "text", text: "first part" },
      { type: "text", text: `second part with a ${trigger}` },
    ],
  });
  assert.equal(r.results.length, 1);
  assert.equal(r.results[0]!.flagged, true);
  await assert.rejects(
    acme.moderations.create({
      input: [
        { type: "text", text: "look" },
        { type: "image_url", image_url: { url: "https://example.com/x.png" } },
      ],
    }),
    (e: unknown) =>
      e instanceof OpenAI.BadRequestError && /input\[1\]: image inputs are not supported/.test(e.message),
  );
});

test("flagged follows the tenant's policy: the same input is blocked for acme and allowed for globex", async () => {
  const input = `Where can I buy a ${trigger}?`;
  const a = (await acme.moderations.create({ input })).results[0]! as Json;
  const g = (await globex.moderations.create({ input })).results[0]! as Json;
  assert.equal(a.qwen3guard.tier, "Unsafe");
  assert.equal(g.qwen3guard.tier, "Unsafe", "same verdict");
  assert.equal(a.flagged, true);
  assert.equal(a.categories.violence, true);
  assert.equal(g.flagged, false);
  assert.equal(g.categories.violence, false, "a category is true only when the result is flagged");
  assert.ok(g.category_scores.violence > 0.9, "scores are the model's, whatever the policy");
  assert.equal(g.qwen3guard.decision.action, "allow");
  assert.match(JSON.stringify(g.qwen3guard.decision.reasons), /prompt\.categories\.Violent/);
});

test("model qwen3guard-stream: Stream's query head, its probabilities spread over the categories", async () => {
  const word = server.runtime.demo!.promptTriggerWords[0]!;
  const r = await acme.moderations.create({
    input: [`How do I ${word} a server?`, "Tell me a story"],
    model: "qwen3guard-stream",
  });
  assert.equal(r.model, "qwen3guard-stream");
  const [flagged, safe] = r.results as Json[];
  assert.equal(flagged.flagged, true);
  assert.equal(flagged.qwen3guard.model, "stream");
  assert.equal(flagged.qwen3guard.tier, "Unsafe");
  assert.equal(flagged.qwen3guard.category, "Jailbreak");
  assert.equal(flagged.categories.jailbreak, true);
  const total = Object.values(flagged.category_scores as Record<string, number>).reduce((a, b) => a + b, 0);
  const p = flagged.qwen3guard.probabilities;
  assert.ok(Math.abs(total - (p.Unsafe + p.Controversial)) < 1e-6, "scores sum to P(not Safe)");
  assert.equal(safe.flagged, false);
  assert.deepEqual(safe.qwen3guard.categories, []);
});

test("every decision is in the audit log under the request id, with the text's hash only", async () => {
  const response = await postJson(
    server.base,
    "/v1/moderations",
    { input: ["one", `two ${trigger}`] },
    "acme-key",
    { "x-request-id": "audit-check-1" },
  );
  assert.equal(response.status, 200);
  const log = AuditLog.open(path.join(server.dir, "audit.sqlite"), { readonly: true });
  try {
    const rows = log.query({ requestId: "audit-check-1" });
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => [r.tenant, r.route, r.direction, r.model, r.tier, r.action]),
      [
        ["acme", "/v1/moderations", "prompt", "gen", "Safe", "allow"],
        ["acme", "/v1/moderations", "prompt", "gen", "Unsafe", "block"],
      ],
    );
    assert.equal(rows[1]!.text, undefined);
    assert.match(rows[1]!.textSha256, /^[0-9a-f]{64}$/);
    assert.match(rows[1]!.synthetic ?? "", /toy models/);
  } finally {
    log.close();
  }
  const metrics = await (await fetch(`${server.base}/metrics`)).text();
  assert.match(
    metrics,
    /qwen3guard_verdicts_total\{direction="prompt",tier="Unsafe",category="Violent",action="block"\} \d+/,
  );
  assert.match(metrics, /qwen3guard_moderated_tokens_total\{model="gen"\} \d+/);
  assert.match(metrics, /qwen3guard_queue_depth\{model="gen"\} 0/);
  assert.match(metrics, /qwen3guard_guard_latency_seconds_count\{direction="prompt",model="gen"\} \d+/);
});
