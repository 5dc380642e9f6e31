import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PolicyError } from "../../src/core/policy/index.js";
import type { Policy } from "../../src/core/policy/index.js";
import { PolicyRegistry, UnknownTenantError } from "../../src/guard/policy/index.js";
import type { PolicySnapshot } from "../../src/guard/policy/index.js";

/** A base and two tenant policies extending it, every file stamped with version `v`. */
function writeVersion(root: string, v: number): void {
  writeFileSync(
    join(root, "base.yaml"),
    `name: base-v${v}\nresponse:\n  thresholds:\n    - { when: unsafe, atLeast: ${v / 1000}, action: block }\n`,
  );
  for (const t of ["acme", "globex"]) {
    writeFileSync(
      join(root, `${t}.yaml`),
      `extends: base.yaml\nname: ${t}-v${v}\nprompt:\n  thresholds:\n    - { when: unsafe, atLeast: ${v / 1000}, action: flag }\n`,
    );
  }
}

/** The version a policy was built from; asserts the base and the tenant file agree. */
function versionOf(p: Policy): number {
  const v = Number(/-v(\d+)$/.exec(p.name ?? "")?.[1]);
  assert.equal(p.prompt.thresholds.length, 1);
  assert.equal(p.response.thresholds.length, 1);
  assert.equal(p.prompt.thresholds[0]!.atLeast, v / 1000, "tenant file from another version");
  assert.equal(p.response.thresholds[0]!.atLeast, v / 1000, "base file from another version");
  return v;
}

function setup(): { root: string; tenants: Record<string, string> } {
  const root = mkdtempSync(join(tmpdir(), "q3g-registry-"));
  writeVersion(root, 1);
  return { root, tenants: { acme: join(root, "acme.yaml"), globex: join(root, "globex.yaml") } };
}

test("policies are chosen per tenant; unknown tenants are a typed error", async () => {
  const { tenants } = setup();
  const reg = await PolicyRegistry.load(tenants, { defaultTenant: "globex" });
  assert.equal(reg.get("acme").name, "acme-v1");
  assert.equal(reg.get().name, "globex-v1");
  assert.deepEqual(reg.tenants(), ["acme", "globex"]);
  assert.throws(() => reg.get("initech"), UnknownTenantError);
  assert.throws(() => reg.get("initech"), /unknown tenant "initech"; known tenants: acme, globex/);
  const d = reg.decide("acme", {
    direction: "prompt",
    tier: "Safe",
    categories: [],
    probabilities: { Safe: 0.9, Unsafe: 0.05, Controversial: 0.05 },
  });
  assert.equal(d.action, "flag"); // acme's prompt threshold is P(Unsafe) ≥ 0.001
  assert.ok(Object.isFrozen(reg.get("acme").prompt.thresholds), "policies in force cannot be mutated");
});

test("a broken tenant fails the initial load, naming its file", async () => {
  const { root, tenants } = setup();
  writeFileSync(join(root, "globex.yaml"), "extends: base.yaml\nmode: medium\n");
  await assert.rejects(PolicyRegistry.load(tenants), (e: unknown) => {
    assert.ok(e instanceof PolicyError);
    assert.match(e.message, /globex\.yaml: mode: expected strict or loose/);
    return true;
  });
});

test("reload swaps atomically under concurrent calls: never a half-loaded or mixed set", async () => {
  const { root, tenants } = setup();
  const reg = await PolicyRegistry.load(tenants);
  const seen: number[] = [];
  let stop = false;
  // Readers run in every gap the reloads' file reads leave open.
  const readers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const a = versionOf(reg.get("acme"));
      const g = versionOf(reg.get("globex"));
      assert.equal(a, g, "two tenants read in the same tick come from the same reload");
      const snap = reg.snapshot();
      assert.equal(versionOf(snap.policies.get("acme")!), versionOf(snap.policies.get("globex")!));
      seen.push(a);
      await new Promise((r) => setImmediate(r));
    }
  });
  const generations: number[] = [];
  for (let v = 2; v <= 12; v++) {
    writeVersion(root, v);
    // Several overlapping reloads of the same files: all succeed, in order.
    const results = await Promise.all([reg.reload(), reg.reload(), reg.reload()]);
    for (const r of results) {
      assert.ok(r.ok);
      generations.push(r.snapshot.generation);
    }
    assert.equal(versionOf(reg.get("acme")), v);
  }
  stop = true;
  await Promise.all(readers);
  assert.ok(seen.length > 10, `readers ran (${seen.length} reads)`);
  assert.ok(new Set(seen).size > 2, "readers saw several versions");
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, "versions never go back");
  assert.deepEqual(
    generations,
    [...generations].sort((x, y) => x - y),
  );
  assert.equal(reg.snapshot().generation, 1 + generations.length);
});

test("a broken edit keeps the old policies in force and reports the error", async () => {
  const { root, tenants } = setup();
  const reg = await PolicyRegistry.load(tenants);
  writeVersion(root, 2);
  // The shared base is broken: neither tenant may switch to version 2.
  writeFileSync(
    join(root, "base.yaml"),
    "response:\n  thresholds:\n    - { when: unsafe, atLeast: 7, action: block }\n",
  );
  const r = await reg.reload();
  assert.equal(r.ok, false);
  assert.match(
    !r.ok ? r.error.message : "",
    /base\.yaml: response\.thresholds\[0\]\.atLeast: expected a probability in \[0, 1\]/,
  );
  assert.equal(versionOf(reg.get("acme")), 1);
  assert.equal(versionOf(reg.get("globex")), 1);
  assert.equal(reg.snapshot().generation, 1);
  writeVersion(root, 3);
  assert.ok((await reg.reload()).ok);
  assert.equal(versionOf(reg.get("acme")), 3);
});

test("watch() reloads on file change (also on rename-over), rejects broken edits, stops on close()", async () => {
  const { root, tenants } = setup();
  const reg = await PolicyRegistry.load(tenants);
  const events: ({ ok: true; snap: PolicySnapshot } | { ok: false; err: Error })[] = [];
  let wake: () => void = () => {};
  const next = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no reload event within 3 s")), 3000);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  reg.watch({
    debounceMs: 30,
    onReload: (snap) => {
      events.push({ ok: true, snap });
      wake();
    },
    onError: (err) => {
      events.push({ ok: false, err });
      wake();
    },
  });
  try {
    let waiting = next();
    writeVersion(root, 2);
    await waiting;
    assert.equal(versionOf(reg.get("globex")), 2);

    waiting = next();
    writeFileSync(join(root, "acme.yaml"), "extends: base.yaml\nprompt: { categories: { Hate: block } }\n");
    await waiting;
    const last = events.at(-1)!;
    assert.ok(!last.ok && /acme\.yaml: prompt\.categories\.Hate: unknown category/.test(last.err.message));
    assert.equal(versionOf(reg.get("acme")), 2, "the old policy stays in force");

    // Editors often write a temporary file and rename it over the original.
    waiting = next();
    writeVersion(root, 4);
    writeFileSync(
      join(root, "acme.tmp"),
      "extends: base.yaml\nname: acme-v5\nprompt:\n  thresholds:\n    - { when: unsafe, atLeast: 0.004, action: flag }\n",
    );
    renameSync(join(root, "acme.tmp"), join(root, "acme.yaml"));
    await waiting;
    // Depending on timing the version-4 files may be seen alone first; wait for the final state.
    for (let i = 0; i < 3 && reg.get("acme").name !== "acme-v5"; i++) await next();
    assert.equal(reg.get("acme").name, "acme-v5");
  } finally {
    reg.close();
  }
  const count = events.length;
  writeVersion(root, 9);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(events.length, count, "no events after close()");
  assert.equal(reg.get("globex").name, "globex-v4");
});
