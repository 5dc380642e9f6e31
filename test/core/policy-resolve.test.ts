import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PolicyError,
  PolicyExtendsCycleError,
  parsePolicyDocument,
  resolvePolicy,
} from "../../src/core/policy/index.js";
import type { PolicyDocument } from "../../src/core/policy/index.js";

function docs(entries: Record<string, unknown>): Map<string, PolicyDocument> {
  return new Map(Object.entries(entries).map(([id, d]) => [id, parsePolicyDocument(d, id)]));
}

test("a document without extends resolves to itself, strict by default", () => {
  const p = resolvePolicy("a", docs({ a: { prompt: { categories: { Violent: "flag" } } } }));
  assert.equal(p.mode, "strict");
  assert.deepEqual(p.prompt.categories.Violent, { Unsafe: "flag", Controversial: "flag" });
  assert.deepEqual(p.sources, ["a"]);
});

test("a child overrides its parent tier by tier, inherits the rest, appends thresholds", () => {
  const p = resolvePolicy(
    "product",
    docs({
      base: {
        name: "company",
        description: "the company base",
        mode: "loose",
        response: {
          default: { Unsafe: "block", Controversial: "flag" },
          categories: { Violent: "block", PII: "block" },
          thresholds: [{ when: "unsafe", atLeast: 0.9, action: "block" }],
        },
      },
      product: {
        extends: "base",
        name: "product",
        response: {
          default: { Controversial: "allow" },
          categories: { Violent: { Controversial: "flag" }, PII: "allow" },
          thresholds: [{ when: "unsafe+controversial", atLeast: 0.5, action: "flag" }],
        },
      },
    }),
  );
  assert.equal(p.name, "product");
  assert.equal(p.description, undefined, "a description belongs to its own file");
  assert.equal(p.mode, "loose", "mode inherited when the child does not set it");
  assert.deepEqual(p.response.default, { Unsafe: "block", Controversial: "allow" });
  assert.deepEqual(p.response.categories.Violent, { Unsafe: "block", Controversial: "flag" });
  assert.deepEqual(p.response.categories.PII, { Unsafe: "allow", Controversial: "allow" });
  assert.deepEqual(
    p.response.thresholds.map((t) => [t.when, t.atLeast, t.source]),
    [
      ["unsafe", 0.9, "base"],
      ["unsafe+controversial", 0.5, "product"],
    ],
  );
  assert.deepEqual(p.sources, ["base", "product"]);
});

test("several parents apply in order; an unset mode in a later parent does not reset an earlier one", () => {
  const d = docs({
    a: { mode: "loose", prompt: { categories: { Violent: "flag" } } },
    b: { prompt: { categories: { Violent: "block" } } },
    c: { extends: ["a", "b"] },
  });
  const p = resolvePolicy("c", d);
  assert.equal(p.mode, "loose");
  assert.deepEqual(p.prompt.categories.Violent, { Unsafe: "block", Controversial: "block" });
  assert.deepEqual(p.sources, ["a", "b", "c"]);
});

test("a diamond contributes the shared base's thresholds once", () => {
  const d = docs({
    base: { prompt: { thresholds: [{ when: "unsafe", atLeast: 0.8, action: "block" }] } },
    x: { extends: "base" },
    y: { extends: "base" },
    top: { extends: ["x", "y"] },
  });
  assert.equal(resolvePolicy("top", d).prompt.thresholds.length, 1);
});

test("cycles in extends are detected with the chain", () => {
  const d = docs({ a: { extends: "b" }, b: { extends: "c" }, c: { extends: "a" } });
  assert.throws(
    () => resolvePolicy("a", d),
    (e: unknown) => {
      assert.ok(e instanceof PolicyExtendsCycleError);
      assert.deepEqual(e.chain, ["a", "b", "c", "a"]);
      assert.match(e.message, /^a: extends: extends cycle: a -> b -> c -> a/);
      return true;
    },
  );
  const self = docs({ s: { extends: "s" } });
  assert.throws(() => resolvePolicy("s", self), /extends cycle: s -> s/);
});

test("a missing parent names the document that refers to it", () => {
  assert.throws(
    () => resolvePolicy("a", docs({ a: { extends: "nowhere" } })),
    (e: unknown) => e instanceof PolicyError && /^a: extends: policy "nowhere" not found$/.test(e.message),
  );
});

test("refs are resolved relative to the referring document through resolveRef", () => {
  const d = docs({ "dir/child": { extends: "./base" }, "dir/base": { mode: "loose" } });
  const p = resolvePolicy(
    "dir/child",
    d,
    (ref, from) => from.replace(/[^/]+$/, "") + ref.replace(/^\.\//, ""),
  );
  assert.equal(p.mode, "loose");
});
