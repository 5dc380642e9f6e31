/**
 * `qwen3guard serve` as a real process: a start with a broken policy fails naming the file and key; SIGTERM stops
 * listening, ends an open WebSocket session with a final frame within the grace period and exits 0, its JSON log
 * lines carrying the request id, the tenant and the demo label; and `kill -9` under load loses no audit row of a
 * response the client received.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { AuditLog } from "../../src/server/audit-log.js";
import { hashApiKey } from "../../src/server/auth.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-process-"));
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Serve {
  child: ChildProcess;
  base: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnServe(args: string[]): Omit<Serve, "base"> & { listening: Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", ...args], {
    cwd: ROOT,
  });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (b: Buffer) => {
      err += b.toString("utf8");
      const m = /listening on (http:\/\/[^\s]+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before listening:\n${err}`)));
  });
  return { child, stdout: () => out, stderr: () => err, exited, listening };
}

function writeConfig(name: string, extra: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    [
      "demo: true",
      "host: 127.0.0.1",
      "port: 0",
      "engine:",
      `  cacheDir: ${path.join(dir, "cache")}`,
      "  gpu: cpu",
      "  contextSize: 1024",
      "  sequences: 2",
      extra,
    ].join("\n"),
  );
  return file;
}

test("a start with a broken policy fails, naming the file and the key", async () => {
  const policy = path.join(dir, "broken.yaml");
  fs.writeFileSync(policy, "prompt:\n  categories:\n    Violence: block\n");
  const s = spawnServe(["--config", writeConfig("broken.yaml.conf", `policy: ${policy}`)]);
  s.listening.catch(() => undefined);
  const { code } = await s.exited;
  assert.equal(code, 1);
  assert.match(s.stderr(), /broken\.yaml: prompt\.categories\.Violence: unknown category "Violence"/);
});

test("a port already in use: exit 1 with what to do, and no stack trace", async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const s = spawnServe(["--config", writeConfig("taken.yaml", ""), "--port", String(port)]);
    s.listening.catch(() => undefined);
    const { code } = await s.exited;
    assert.equal(code, 1);
    assert.match(s.stderr(), new RegExp(`127\\.0\\.0\\.1:${port} is already in use .*--port`));
    assert.doesNotMatch(s.stderr(), /\n\s+at /, "no stack trace");
  } finally {
    taken.close();
  }
});

test("SIGTERM: stops listening, ends the open WebSocket session with a final frame, exits 0", async () => {
  const s = spawnServe([
    "--config",
    writeConfig(
      "sigterm.yaml",
      `limits:\n  shutdownGraceSeconds: 1\naudit:\n  path: sigterm.sqlite\ntenants:\n  acme:\n    apiKeys: ["${hashApiKey("acme-key")}"]\n`,
    ),
  ]);
  const base = await s.listening;
  const ws = new WebSocket(`${base.replace("http", "ws")}/v1/guard/stream`, {
    headers: { authorization: "Bearer acme-key", "x-request-id": "ws-session-1" },
  });
  const frames: { type: string; [k: string]: unknown }[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const got = (type: string) =>
    new Promise<void>((resolve) => {
      const check = () => (frames.some((f) => f.type === type) ? resolve() : setTimeout(check, 20));
      check();
    });
  ws.on("message", (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  ws.send(JSON.stringify({ type: "open", messages: [{ role: "user", content: "Tell me a story" }] }));
  await got("prompt");
  ws.send(JSON.stringify({ type: "text", text: "Once upon a time" }));
  await got("token");
  const signalled = Date.now();
  s.child.kill("SIGTERM");
  const close = await closed;
  const elapsed = Date.now() - signalled;
  assert.deepEqual(close, { code: 1001, reason: "server shutting down" });
  const end = frames.find((f) => f.type === "end")!;
  assert.ok(end, JSON.stringify(frames));
  assert.equal(end.reason, "shutdown");
  assert.ok(elapsed >= 900 && elapsed < 4000, `the session got its grace period, then ended (${elapsed} ms)`);
  await assert.rejects(fetch(`${base}/healthz`), "no longer listening");
  assert.deepEqual(await s.exited, { code: 0, signal: null });
  assert.match(s.stderr(), /SIGTERM: draining open streams/);
  // pino JSON lines: every decision carries the request id, the tenant and the demo label
  const lines = s
    .stdout()
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const decisions = lines.filter((l) => l.decision !== undefined);
  assert.equal(decisions.length, 2, "the prompt and the final verdict");
  for (const line of decisions) {
    assert.equal(line.reqId, "ws-session-1");
    assert.equal(line.tenant, "acme");
    assert.match(String(line.synthetic), /toy models/);
  }
  assert.ok(
    lines.every((l) => typeof l.synthetic === "string"),
    "every line of a demo server is labelled",
  );
  const log = AuditLog.open(path.join(dir, "sigterm.sqlite"), { readonly: true });
  try {
    assert.deepEqual(
      log.query({ requestId: "ws-session-1" }).map((r) => [r.route, r.direction]),
      [
        ["/v1/guard/stream", "prompt"],
        ["/v1/guard/stream", "response"],
      ],
    );
  } finally {
    log.close();
  }
});

test("kill -9 under load loses no audit row of a response the client received", async () => {
  const db = path.join(dir, "kill.sqlite");
  const s = spawnServe(["--config", writeConfig("kill.yaml", `audit:\n  path: ${db}\nlogLevel: warn`)]);
  const base = await s.listening;
  const received: string[] = [];
  let stop = false;
  let n = 0;
  const client = async (c: number) => {
    while (!stop) {
      const id = `load-${c}-${n++}`;
      try {
        const r = await fetch(`${base}/v1/moderations`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-request-id": id },
          body: JSON.stringify({ input: [`request ${id}`, "a second input"] }),
        });
        const body = (await r.json()) as { results?: unknown[] };
        if (r.status === 200 && body.results?.length === 2) received.push(id);
      } catch {
        return; // the server is gone
      }
    }
  };
  const clients = Array.from({ length: 6 }, (_, c) => client(c));
  const deadline = Date.now() + 60_000;
  while (received.length < 24 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  s.child.kill("SIGKILL");
  stop = true;
  await Promise.all(clients);
  const { signal } = await s.exited;
  assert.equal(signal, "SIGKILL");
  assert.ok(received.length >= 24, `only ${received.length} responses before the deadline`);
  const log = AuditLog.open(db, { readonly: true });
  try {
    const missing = received.filter((id) => log.query({ requestId: id }).length !== 2);
    assert.deepEqual(missing, [], "every response the client received has its audit rows");
    assert.ok(log.count() >= received.length * 2);
  } finally {
    log.close();
  }
});
