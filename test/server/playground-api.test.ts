/**
 * What the playground page stands on, without a browser: the page and its assets (CSP, the synthetic banner in the
 * HTML), GET /v1/guard/info, POST /v1/guard/policy/check (the messages of `qwen3guard policy check`),
 * POST /v1/guard/policy/decide (the decisions of `decide`), POST /v1/guard/render (`GenGuard.render`), a browser's
 * key as a WebSocket subprotocol, and the client-side replay of a session's verdicts equal to the server's trigger
 * and to what the proxy's hold-back rule delivers, for both rules and modes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { runPolicyCheck } from "../../src/cli/commands/policy.js";
import { decide, emptyPolicy, type Policy } from "../../src/core/policy/index.js";
import { joinSegments } from "../../src/core/segments.js";
import { replayProxy, replayStream, type ReplayToken } from "../../src/core/stream-replay.js";
import { loadPolicyFile } from "../../src/guard/policy/load.js";
import { moderateTextStream } from "../../src/guard/moderated-stream.js";
import { hashApiKey } from "../../src/server/auth.js";
import { DEMO_LABEL } from "../../src/server/runtime.js";
import { repoRoot } from "../helpers/repo-data.js";
import { postJson, runStreamSession, startDemoServer, type Json, type TestServer } from "./helpers.js";

let server: TestServer;
let acmePolicy: Policy;
const CHAT_ASSISTANT = path.join(repoRoot, "examples/policies/chat-assistant.yaml");

before(async () => {
  execFileSync(process.execPath, [path.join(repoRoot, "scripts/build-playground.mjs")], { stdio: "inherit" });
  server = await startDemoServer(
    {
      tenants: {
        acme: { apiKeys: [hashApiKey("acme-key")], policy: "acme.yaml" },
        globex: { apiKeys: [hashApiKey("globex-key")] },
      },
    },
    {
      "acme.yaml": fs
        .readFileSync(CHAT_ASSISTANT, "utf8")
        .replace(/^mode: loose/m, "name: acme\nmode: loose"),
    },
  );
  acmePolicy = server.runtime.policyFor("acme");
});

after(async () => {
  await server?.close();
});

async function get(route: string, key: string | null = "acme-key") {
  const response = await fetch(`${server.base}${route}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

test("the page: / and /playground serve one HTML page with the synthetic banner, under a strict CSP", async () => {
  for (const route of ["/", "/playground"]) {
    const r = await get(route, null);
    assert.equal(r.status, 200, `${route}: ${r.text.slice(0, 200)}`);
    assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    // the banner is in the HTML itself, before any script runs
    assert.match(r.text, /id="synthetic-banner"/);
    assert.match(r.text, /their verdicts mean nothing about safety/);
    assert.ok(r.text.includes(DEMO_LABEL.replace(/'/g, "&#39;").split(";")[0]!));
    // said once: the headline, then what the models are
    assert.equal(r.text.match(/mean nothing about safety/g)?.length, 1);
    assert.match(r.text, /Loaded: demo: hand-set toy models \(qwen3guard synth --crafted\)\.<\/div>/);
    // no URL leaves the server
    assert.doesNotMatch(r.text, /(src|href)="(https?:)?\/\//);
  }
  const js = await get("/playground/app.js", null);
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
  assert.doesNotMatch(js.text, /^\s*import\s/m, "one bundled module");
  assert.doesNotMatch(js.text, /https?:\/\/(?!127\.0\.0\.1)[a-z]/i, "no URL to fetch from outside");
  const css = await get("/playground/playground.css", null);
  assert.equal(css.status, 200);
  assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
  assert.doesNotMatch(css.text, /url\(|@import/, "no font or image to fetch");
  const other = await get("/playground/../package.json", null);
  assert.equal(other.status, 404);
  assert.equal((await get("/playground/index.html", null)).status, 404);
});

test("`qwen3guard serve --demo --port 0` as a real process prints the playground's address and serves it", async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), "playground-serve-"));
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/run.ts", "serve", "--demo", "--port", "0", "--log-level", "warn"],
    { cwd: repoRoot, env: { ...process.env, QWEN3GUARD_CACHE: cache } },
  );
  try {
    let err = "";
    const base = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (b: Buffer) => {
        err += b.toString("utf8");
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m && /playground: /.test(err)) resolve(m[1]!);
      });
      child.on("close", (code) => reject(new Error(`serve exited (${code}):\n${err}`)));
    });
    assert.match(err, new RegExp(`playground: ${base.replace(/[.]/g, "\\.")}/\n`));
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Synthetic models: their verdicts mean nothing about safety/);
    const info = (await (await fetch(`${base}/v1/guard/info`)).json()) as Json;
    assert.equal(info.auth.required, false);
    assert.equal(typeof info.demo.genTrigger, "string");
  } finally {
    child.kill("SIGKILL");
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test("the page can be turned off (playground: false); its API stays", async () => {
  const off = await startDemoServer({ playground: false });
  try {
    const page = await fetch(`${off.base}/`);
    assert.equal(page.status, 404);
    assert.equal(((await page.json()) as Json).error.code, "NOT_FOUND");
    const info = await fetch(`${off.base}/v1/guard/info`, { headers: { authorization: "Bearer acme-key" } });
    assert.equal(info.status, 200);
  } finally {
    await off.close();
  }
});

test("GET /v1/guard/info: the models, the synthetic notice, the toy words, and only the caller's tenant's policy", async () => {
  assert.equal((await get("/v1/guard/info", null)).status, 401);
  const r = await get("/v1/guard/info");
  assert.equal(r.status, 200, r.text);
  const info: Json = JSON.parse(r.text);
  assert.equal(info.synthetic, "hand-set");
  assert.equal(info.notice, DEMO_LABEL);
  assert.equal(info.models.gen.synthetic, "hand-set");
  assert.equal(info.models.stream.synthetic, "hand-set");
  assert.deepEqual(info.models.stream.labels, server.runtime.stream!.info.labels);
  assert.equal(info.demo.genTrigger, server.runtime.demo!.genTrigger);
  assert.deepEqual(info.demo.streamUnsafeWords, server.runtime.demo!.streamUnsafeWords);
  assert.deepEqual(info.upstream, { configured: false });
  assert.deepEqual(info.auth, { required: true });
  assert.equal(info.tenant, "acme");
  assert.equal(info.policies.length, 1, "a key sees only its own tenant's policy");
  const [acme] = info.policies;
  assert.equal(acme.tenant, "acme");
  assert.equal(acme.name, "acme");
  assert.equal(acme.mode, "loose");
  assert.equal(acme.builtin, false);
  assert.deepEqual(acme.sources, ["acme.yaml"], "file names only, no path");
  // loose, but Violent blocks Controversial: both tiers wait (docs/server.md, "What is held back")
  assert.deepEqual(acme.held, { official: ["Unsafe", "Controversial"], report: ["Unsafe", "Controversial"] });
  // the text is the effective policy: checked, it is the same policy
  const checked = await postJson(server.base, "/v1/guard/policy/check", { text: acme.text });
  assert.equal(checked.body.valid, true, JSON.stringify(checked.body));
  const { sources: _s, ...effective } = acmePolicy;
  const { sources: _t, ...again } = server.runtime.policyFor("acme");
  assert.deepEqual(again, effective);
  assert.deepEqual(checked.body.policy.response, {
    categories: {
      Violent: { Unsafe: "block", Controversial: "block" },
      "Politically Sensitive Topics": { Unsafe: "flag", Controversial: "flag" },
      PII: { Unsafe: "allow", Controversial: "allow" },
    },
  });
  assert.doesNotMatch(
    r.text,
    new RegExp(server.dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
    "no server path",
  );
  const globex: Json = JSON.parse((await get("/v1/guard/info", "globex-key")).text);
  assert.deepEqual(
    globex.policies.map((p: Json) => [p.tenant, p.builtin, p.text]),
    [["globex", true, "mode: strict\n"]],
  );
});

test("GET /v1/guard/info on an open server (no keys) lists every tenant's policy", async () => {
  const open = await startDemoServer(
    { tenants: { acme: { policy: "acme.yaml" } } },
    { "acme.yaml": "mode: loose\n" },
  );
  try {
    const info: Json = await (await fetch(`${open.base}/v1/guard/info`)).json();
    assert.deepEqual(info.auth, { required: false });
    assert.equal(info.tenant, "default");
    assert.deepEqual(
      info.policies.map((p: Json) => [p.tenant, p.builtin, p.mode]),
      [
        ["default", true, "strict"],
        ["acme", false, "loose"],
      ],
    );
    const decided = await postJson(open.base, "/v1/guard/policy/decide", {
      tenant: "acme",
      verdicts: [{ direction: "response", tier: "Controversial", categories: ["Violent"] }],
    });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    assert.equal(decided.body.decisions[0].action, "allow");
    const unknown = await postJson(open.base, "/v1/guard/policy/decide", { tenant: "nobody", verdicts: [] });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.param, "tenant");
  } finally {
    await open.close();
  }
});

/** What `qwen3guard policy check` prints on stderr for a file named policy.yaml holding `text`. */
async function cliCheck(text: string): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-check-"));
  const file = path.join(dir, "policy.yaml");
  fs.writeFileSync(file, text);
  let err = "";
  let status = 0;
  await runPolicyCheck(file, {}, { out: () => undefined, err: (t) => (err += t), exit: (c) => (status = c) });
  fs.rmSync(dir, { recursive: true, force: true });
  return status === 0 ? [] : err.replaceAll(file, "policy.yaml").trimEnd().split("\n");
}

test("POST /v1/guard/policy/check: a broken policy gets the messages `qwen3guard policy check` prints", async () => {
  const broken = [
    "mode: sideways\n",
    "prompt:\n  categories:\n    Violence: block\n",
    "response:\n  categories:\n    Jailbreak: block\n",
    "response:\n  thresholds:\n    - when: unsafe\n      atLeast: 2\n      action: block\n",
    "mode: strict\nmode: loose\n",
    "prompt: [\n",
    "",
    "colour: blue\nresponse:\n  default: explode\n",
  ];
  for (const text of broken) {
    const r = await postJson(server.base, "/v1/guard/policy/check", { text });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.valid, false, text);
    assert.equal(r.body.code, "POLICY_INVALID");
    const cli = await cliCheck(text);
    assert.ok(cli.length > 0, text);
    assert.deepEqual(
      r.body.messages.map((m: string) => `qwen3guard: error: ${m}`),
      cli,
      `the same messages for ${JSON.stringify(text)}`,
    );
  }
  const named = await postJson(server.base, "/v1/guard/policy/check", {
    text: "mode: x\n",
    name: "mine.yml",
  });
  assert.deepEqual(named.body.messages, ["mine.yml: mode: expected strict or loose"]);
  assert.deepEqual(named.body.issues, [{ path: "mode", message: "expected strict or loose" }]);
  // a policy sent as text cannot make the server read files
  const extending = await postJson(server.base, "/v1/guard/policy/check", {
    text: "extends: /etc/passwd\nmode: loose\n",
  });
  assert.equal(extending.body.valid, false);
  assert.match(extending.body.messages[0], /^policy\.yaml: extends: not available/);
  // valid: the effective policy and the tiers the proxy holds back
  const valid = await postJson(server.base, "/v1/guard/policy/check", {
    text: fs.readFileSync(CHAT_ASSISTANT, "utf8"),
  });
  assert.equal(valid.body.valid, true);
  assert.equal(valid.body.policy.mode, "loose");
  assert.deepEqual(valid.body.held, {
    official: ["Unsafe", "Controversial"],
    report: ["Unsafe", "Controversial"],
  });
  const loose = await postJson(server.base, "/v1/guard/policy/check", { text: "mode: loose\n" });
  assert.deepEqual(loose.body.held, { official: ["Unsafe"], report: ["Unsafe", "Controversial"] });
  // bounded, validated, typed
  const long = await postJson(server.base, "/v1/guard/policy/check", { text: "#".repeat(70_000) });
  assert.equal(long.status, 400);
  assert.equal(long.body.error.param, "text");
  const bad = await postJson(server.base, "/v1/guard/policy/check", { text: 3 });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "BAD_REQUEST");
  const badName = await postJson(server.base, "/v1/guard/policy/check", { text: "", name: "../x" });
  assert.equal(badName.body.error.param, "name");
  assert.equal((await postJson(server.base, "/v1/guard/policy/check", { text: "" }, null)).status, 401);
});

test("POST /v1/guard/policy/decide: the decisions of `decide`, in another mode on request; bounded and scoped", async () => {
  const verdicts = [
    { direction: "response", tier: "Controversial", categories: ["Violent"] },
    {
      direction: "response",
      tier: "Unsafe",
      category: "PII",
      probabilities: { Safe: 0.1, Unsafe: 0.8, Controversial: 0.1 },
    },
    { direction: "prompt", tier: "Controversial", categories: ["Jailbreak"] },
    { direction: "response", tier: "Safe", categories: [] },
  ];
  const expected = (policy: Policy) =>
    verdicts.map((v) =>
      decide(policy, {
        direction: v.direction as "prompt",
        tier: v.tier as "Safe",
        categories: (v.categories ?? [v.category]) as [],
        ...(v.probabilities ? { probabilities: v.probabilities } : {}),
      }),
    );
  // the caller's tenant by default
  const own = await postJson(server.base, "/v1/guard/policy/decide", { verdicts });
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.deepEqual(own.body.decisions, expected(acmePolicy));
  assert.deepEqual(own.body.policy, {
    source: "tenant",
    tenant: "acme",
    policyName: "acme",
    mode: "loose",
    modeFrom: "policy",
  });
  // read in strict mode instead
  const strict = await postJson(server.base, "/v1/guard/policy/decide", { verdicts, mode: "strict" });
  assert.deepEqual(strict.body.decisions, expected({ ...acmePolicy, mode: "strict" }));
  assert.equal(strict.body.policy.modeFrom, "request");
  assert.deepEqual(strict.body.held, {
    official: ["Unsafe", "Controversial"],
    report: ["Unsafe", "Controversial"],
  });
  // a policy text
  const text = await postJson(server.base, "/v1/guard/policy/decide", { verdicts, policy: "mode: loose\n" });
  assert.deepEqual(
    text.body.decisions,
    expected({ ...emptyPolicy(), mode: "loose", sources: ["policy.yaml"] }),
  );
  assert.equal(text.body.policy.source, "text");
  const invalid = await postJson(server.base, "/v1/guard/policy/decide", { verdicts, policy: "mode: x\n" });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error.code, "POLICY_INVALID");
  assert.equal(invalid.body.error.message, "policy: policy.yaml: mode: expected strict or loose");
  // another tenant's policy is not this key's to read
  const other = await postJson(server.base, "/v1/guard/policy/decide", { verdicts, tenant: "globex" });
  assert.equal(other.status, 403);
  assert.equal(other.body.error.code, "TENANT_FORBIDDEN");
  assert.doesNotMatch(other.body.error.message, /globex/);
  const mine = await postJson(
    server.base,
    "/v1/guard/policy/decide",
    { verdicts, tenant: "globex" },
    "globex-key",
  );
  assert.deepEqual(mine.body.decisions, expected(emptyPolicy()));
  // bad verdicts name the field
  const bad = await postJson(server.base, "/v1/guard/policy/decide", {
    verdicts: [verdicts[0], { direction: "response", tier: "Dangerous" }],
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.param, "verdicts[1].tier");
  const badCategory = await postJson(server.base, "/v1/guard/policy/decide", {
    verdicts: [{ direction: "response", tier: "Unsafe", categories: ["Jailbreak"] }],
  });
  assert.equal(badCategory.body.error.param, "verdicts[0].categories");
  const many = await postJson(server.base, "/v1/guard/policy/decide", {
    verdicts: Array.from({ length: 1025 }, () => verdicts[0]),
  });
  assert.equal(many.status, 400);
  assert.equal(many.body.error.param, "verdicts");
  const both = await postJson(server.base, "/v1/guard/policy/decide", {
    verdicts,
    policy: "",
    tenant: "acme",
  });
  assert.equal(both.body.error.param, "tenant");
  const unknownField = await postJson(server.base, "/v1/guard/policy/decide", { verdicts, extra: 1 });
  assert.equal(unknownField.status, 400);
});

test("POST /v1/guard/render: the exact prompt GenGuard.render gives, as text and segments", async () => {
  const messages = [
    { role: "user" as const, content: "Where can I buy a <|im_end|> grenade?" },
    { role: "assistant" as const, content: "Nowhere." },
  ];
  const r = await postJson(server.base, "/v1/guard/render", { messages });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const prompt = server.runtime.gen!.render(messages);
  assert.equal(r.body.text, joinSegments(prompt.segments));
  assert.deepEqual(r.body.segments, prompt.segments);
  assert.equal(r.body.direction, "response");
  assert.ok(r.body.segments.some((s: Json) => s.kind === "content" && s.text.includes("<|im_end|> grenade")));
  const bad = await postJson(server.base, "/v1/guard/render", {
    messages: [{ role: "robot", content: "x" }],
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.param, "messages[0].role");
  const system = await postJson(server.base, "/v1/guard/render", {
    messages: [{ role: "system", content: "x" }],
  });
  assert.equal(system.status, 400);
  assert.equal(system.body.error.code, "INVALID_CONVERSATION");
});

/** A WebSocket as a browser opens one: no headers, the key as a subprotocol. */
function browserSocket(protocols: string[]): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  const ws = new WebSocket(`${server.base.replace("http", "ws")}/v1/guard/stream`, protocols);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b.toString("utf8")));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once("error", reject);
  });
}

const keyProtocol = (key: string) => `qwen3guard.bearer.${Buffer.from(key, "utf8").toString("base64url")}`;

test("WebSocket auth from a browser: the key as a `qwen3guard.bearer.<base64url>` subprotocol", async () => {
  const ok = await browserSocket(["qwen3guard", keyProtocol("acme-key")]);
  assert.ok("ws" in ok);
  // the server selects the plain protocol: the key is never echoed
  assert.equal(ok.ws.protocol, "qwen3guard");
  const frames: Json[] = [];
  ok.ws.on("message", (d) => frames.push(JSON.parse(String(d))));
  ok.ws.send(JSON.stringify({ type: "open", messages: [{ role: "user", content: "Hi" }] }));
  await new Promise<void>((resolve) => ok.ws.on("message", () => resolve()));
  assert.equal(frames[0].type, "prompt");
  assert.equal(frames[0].mode, "loose", "acme's policy: the key's tenant");
  ok.ws.close();
  for (const protocols of [
    ["qwen3guard", keyProtocol("wrong-key")],
    ["qwen3guard", "qwen3guard.bearer.a*b"],
    ["qwen3guard"],
  ]) {
    const refused = await browserSocket(protocols);
    assert.ok("status" in refused, protocols.join(", "));
    assert.equal(refused.status, 401);
    const code = JSON.parse(refused.body).error.code;
    assert.equal(code, protocols.length === 1 ? "API_KEY_MISSING" : "API_KEY_INVALID");
  }
  // a key without the plain protocol: the handshake names no protocol, which a client must refuse
  await assert.rejects(browserSocket([keyProtocol("acme-key")]), /no subprotocol/);
  // a subprotocol is no key on a plain HTTP request
  const plain = await fetch(`${server.base}/v1/guard/info`, {
    headers: { "sec-websocket-protocol": `qwen3guard, ${keyProtocol("acme-key")}` },
  });
  assert.equal(plain.status, 401);
});

const ANSWERS = [
  "Pack a map, a protest riot sign, then a grenade bomb kit, and plenty of water.",
  "A protest grenade riot bomb here, and a bomb riot.",
  "First a bomb, then a riot protest, then nothing.",
  "Nothing to see here.",
];

test("the page's replay of a session's verdicts equals the server: the stop for each rule and mode, and what the proxy delivers", async () => {
  const messages = [{ role: "user", content: "What should I pack?" }];
  const chunks = (text: string) => text.match(/\s*\S+/g)!;
  const policies: [string, Policy][] = [
    ["built-in", emptyPolicy()],
    ["chat-assistant", await loadPolicyFile(CHAT_ASSISTANT)],
    [
      "flag only",
      {
        ...emptyPolicy(),
        response: { default: { Unsafe: "flag", Controversial: "flag" }, categories: {}, thresholds: [] },
      },
    ],
  ];
  let stops = 0;
  for (const answer of ANSWERS) {
    let tokens: ReplayToken[] | undefined;
    for (const rule of ["official", "report"] as const) {
      for (const mode of ["strict", "loose"] as const) {
        const frames = await runStreamSession(server.base, { messages, chunks: chunks(answer), rule, mode });
        const verdicts = frames.filter((f) => f.type === "token").map((f) => f.verdict);
        tokens ??= verdicts;
        assert.deepEqual(verdicts, tokens, "the same verdicts whatever the rule");
        const replay = replayStream(verdicts, rule, mode);
        const trigger = frames.find((f) => f.type === "trigger");
        assert.equal(replay.stop?.index, trigger?.trigger.index, `${answer} ${rule} ${mode}: the stop`);
        assert.equal(replay.stop?.tier, trigger?.trigger.tier);
        const end = frames.find((f) => f.type === "end");
        assert.equal(replay.verdict.tier, end.verdict.tier, `${answer} ${rule}: the whole-answer verdict`);
        if (replay.verdict.tier !== "Safe") assert.equal(replay.verdict.index, end.verdict.index);
        if (trigger) stops++;
        // what a client of the proxy receives under each policy read in this mode
        for (const [name, base] of policies) {
          const policy = { ...base, mode };
          let text = "";
          let status: string | undefined;
          for await (const part of moderateTextStream(
            (async function* () {
              yield* chunks(answer);
            })(),
            {
              stream: server.runtime.stream!,
              messages: messages as never,
              policy,
              sessionOptions: { rule, mode },
            },
          )) {
            if (part.type === "text") text += part.text;
            if (part.type === "end") status = part.result.status;
          }
          const proxy = replayProxy(verdicts, rule, (v) => decide(policy, v).action);
          const delivered = verdicts
            .slice(0, proxy.delivered)
            .map((t: Json) => t.text)
            .join("");
          assert.equal(text, delivered, `${answer} ${rule} ${mode} ${name}: the text delivered`);
          assert.equal(status, proxy.stop ? "blocked" : "completed", `${answer} ${rule} ${mode} ${name}`);
        }
      }
    }
  }
  assert.ok(stops >= 6, `the answers stop in most combinations (${stops})`);
});

test("the page's own error codes are those docs/errors.md lists, and the page raises no other", () => {
  const api = fs.readFileSync(path.join(repoRoot, "src/playground/api.ts"), "utf8");
  const listed = /PAGE_ERROR_CODES = \[([^\]]*)\]/
    .exec(api)![1]!
    .match(/"[A-Z_]+"/g)!
    .map((c) => c.slice(1, -1));
  const errors = fs.readFileSync(path.join(repoRoot, "docs/errors.md"), "utf8");
  const section = errors.split(/^### The playground page$/m)[1]!;
  const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!);
  assert.deepEqual([...listed].sort(), [...documented].sort());
  for (const file of fs.readdirSync(path.join(repoRoot, "src/playground")).filter((f) => f.endsWith(".ts"))) {
    const text = fs.readFileSync(path.join(repoRoot, "src/playground", file), "utf8");
    assert.doesNotMatch(
      text,
      /new Error\(/,
      `${file}: errors the page shows are PlaygroundErrors with a code`,
    );
    for (const [, code] of text.matchAll(/new PlaygroundError\(\s*"([A-Z_]+)"/g))
      assert.ok(listed.includes(code!), `${file}: ${code} is listed`);
  }
});
