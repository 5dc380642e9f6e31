/**
 * `qwen3guard audit tail|query|prune` as a user runs it (a child process on the source), on an audit log written
 * through AuditLog: the last rows, following new ones, every filter, JSON lines, --config, pruning.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseTime } from "../../src/cli/commands/audit.js";
import { AuditLog, type AuditEntry } from "../../src/server/audit-log.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let dir: string;
let db: string;

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli/run.ts", "audit", ...args], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function entry(over: Partial<AuditEntry>): AuditEntry {
  return {
    time: new Date().toISOString(),
    requestId: "req",
    tenant: "acme",
    route: "/v1/moderations",
    direction: "prompt",
    model: "gen",
    tier: "Safe",
    categories: [],
    action: "allow",
    reasons: [],
    latencyMs: 1.5,
    text: "hello",
    ...over,
  };
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "audit-cli-"));
  db = path.join(dir, "audit.sqlite");
  const log = AuditLog.open(db);
  const day = 86_400_000;
  log.record(entry({ requestId: "old", time: new Date(Date.now() - 40 * day).toISOString() }));
  log.record(entry({ requestId: "r1", tier: "Unsafe", categories: ["Violent"], action: "block" }));
  log.record(entry({ requestId: "r2", tenant: "globex", direction: "response", action: "flag" }));
  log.record(entry({ requestId: "r3" }));
  log.close();
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("tail prints the last rows, one line each", () => {
  const r = cli("tail", "--db", db, "-n", "2");
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /\br2\s+globex\s+\/v1\/moderations\s+response\s+gen\s+Safe\s+FLAG\s+1\.5 ms$/);
  assert.match(lines[1]!, /\br3\b/);
});

test("query filters by time, tenant, action, direction and request id; --json prints JSON lines", () => {
  const ids = (...args: string[]) => {
    const r = cli("query", "--db", db, "--json", ...args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { requestId: string }).requestId);
  };
  assert.deepEqual(ids(), ["old", "r1", "r2", "r3"]);
  assert.deepEqual(ids("--since", "7d"), ["r1", "r2", "r3"]);
  assert.deepEqual(ids("--until", "30d"), ["old"]);
  assert.deepEqual(ids("--tenant", "globex"), ["r2"]);
  assert.deepEqual(ids("--action", "block"), ["r1"]);
  assert.deepEqual(ids("--direction", "response"), ["r2"]);
  assert.deepEqual(ids("--request-id", "r3"), ["r3"]);
  assert.deepEqual(ids("--limit", "2"), ["r2", "r3"]);
  const row = JSON.parse(cli("query", "--db", db, "--json", "--request-id", "r1").stdout) as Record<
    string,
    unknown
  >;
  assert.deepEqual(row.categories, ["Violent"]);
  assert.equal(row.text, undefined, "the text is not kept unless configured");
  assert.match(String(row.textSha256), /^[0-9a-f]{64}$/);
  const bad = cli("query", "--db", db, "--since", "yesterday-ish");
  assert.equal(bad.code, 2, "a usage error");
  assert.match(bad.stderr, /expected an ISO time/);
});

test("--config reads the server configuration's audit.path; no source is an error", () => {
  const config = path.join(dir, "server.yaml");
  fs.writeFileSync(config, "demo: true\naudit:\n  path: audit.sqlite\n");
  const r = cli("query", "--config", config, "--tenant", "acme", "--action", "allow");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split("\n").length, 2);
  const none = cli("tail");
  assert.equal(none.code, 2, "a usage error");
  assert.match(none.stderr, /--db FILE, or --config FILE/);
});

test("tail --follow prints rows written after it started", async () => {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/run.ts",
      "audit",
      "tail",
      "--db",
      db,
      "-n",
      "1",
      "--follow",
      "--interval",
      "50",
      "--json",
    ],
    { cwd: ROOT },
  );
  let out = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const wait = async (what: RegExp) => {
    const deadline = Date.now() + 20_000;
    while (!what.test(out)) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what} in ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await wait(/"requestId":"r3"/);
    const log = AuditLog.open(db);
    log.record(entry({ requestId: "new-1" }));
    log.record(entry({ requestId: "new-2", action: "block" }));
    log.close();
    await wait(/"requestId":"new-2"/);
    const seen = out
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { requestId: string }).requestId);
    assert.deepEqual(seen, ["r3", "new-1", "new-2"]);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0);
});

test("prune deletes rows older than the days given", () => {
  const r = cli("prune", "--db", db, "--older-than", "30");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "pruned 1 decision older than 30 days");
  assert.doesNotMatch(cli("query", "--db", db).stdout, /\bold\b/);
});

test("times: ISO, or a duration ago", () => {
  const now = new Date("2026-12-01T12:00:00.000Z");
  assert.equal(parseTime("2h", now), "2026-12-01T10:00:00.000Z");
  assert.equal(parseTime("90s", now), "2026-12-01T11:58:30.000Z");
  assert.equal(parseTime("2026-11-30T00:00:00Z", now), "2026-11-30T00:00:00.000Z");
});
