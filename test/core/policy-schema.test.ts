import { test } from "node:test";
import assert from "node:assert/strict";
import { PolicyError, formatIssue, parsePolicyDocument } from "../../src/core/policy/index.js";

function issues(data: unknown): string[] {
  try {
    parsePolicyDocument(data, "p.yaml");
  } catch (e) {
    assert.ok(e instanceof PolicyError, `expected PolicyError, got ${String(e)}`);
    return e.issues.map(formatIssue);
  }
  assert.fail("expected the document to be rejected");
}

test("a valid document parses, with action shorthand expanded to Controversial and above", () => {
  const doc = parsePolicyDocument({
    mode: "loose",
    extends: "./base.yaml",
    prompt: { categories: { Violent: "block", Jailbreak: { Controversial: "flag", Unsafe: "block" } } },
    response: {
      default: { Unsafe: "flag" },
      thresholds: [{ when: "unsafe+controversial", atLeast: 0.5, action: "block", categories: ["PII"] }],
    },
  });
  assert.deepEqual(doc.extends, ["./base.yaml"]);
  assert.deepEqual(doc.prompt?.categories?.Violent, { Unsafe: "block", Controversial: "block" });
  assert.deepEqual(doc.prompt?.categories?.Jailbreak, { Controversial: "flag", Unsafe: "block" });
  assert.deepEqual(doc.response?.default, { Unsafe: "flag" });
  assert.equal(doc.response?.thresholds?.[0]?.atLeast, 0.5);
});

test("unknown category names are rejected with the path and the valid names", () => {
  const [msg, ...rest] = issues({ prompt: { categories: { Violence: "block" } } });
  assert.equal(rest.length, 0);
  assert.match(
    msg!,
    /^p\.yaml: prompt\.categories\.Violence: unknown category "Violence"; expected one of Violent,/,
  );
  assert.match(issues({ prompt: { categories: { violent: "block" } } })[0]!, /did you mean "Violent"\?/);
  assert.match(
    issues({
      response: { thresholds: [{ when: "unsafe", atLeast: 0.5, action: "block", categories: ["Hate"] }] },
    })[0]!,
    /^p\.yaml: response\.thresholds\[0\]\.categories\[0\]: unknown category "Hate"/,
  );
});

test("Jailbreak is prompt-only: an error under response", () => {
  const [msg] = issues({ response: { categories: { Jailbreak: "block" } } });
  assert.match(msg!, /^p\.yaml: response\.categories\.Jailbreak: "Jailbreak" is a prompt-only category/);
});

test("category names with spaces are quoted in paths", () => {
  const [msg] = issues({ response: { categories: { "Politically Sensitive Topics": "blok" } } });
  assert.equal(
    msg,
    'p.yaml: response.categories["Politically Sensitive Topics"]: expected an action: allow, flag, regenerate, block',
  );
});

test("thresholds outside [0, 1] are rejected", () => {
  assert.match(
    issues({ response: { thresholds: [{ when: "unsafe", atLeast: 1.5, action: "block" }] } })[0]!,
    /^p\.yaml: response\.thresholds\[0\]\.atLeast: expected a probability in \[0, 1\], got a number above 1$/,
  );
  assert.match(
    issues({ prompt: { thresholds: [{ when: "unsafe", atLeast: -0.1, action: "flag" }] } })[0]!,
    /prompt\.thresholds\[0\]\.atLeast: expected a probability in \[0, 1\], got a number below 0/,
  );
  assert.match(
    issues({ prompt: { thresholds: [{ when: "unsafe", atLeast: "0.5", action: "flag" }] } })[0]!,
    /atLeast: expected a probability/,
  );
  // The bounds themselves are valid.
  for (const atLeast of [0, 1]) {
    parsePolicyDocument({ prompt: { thresholds: [{ when: "unsafe", atLeast, action: "flag" }] } });
  }
});

test("thresholds cannot allow, measures and tiers are checked, typos in keys are named", () => {
  assert.match(
    issues({ prompt: { thresholds: [{ when: "unsafe", atLeast: 0.5, action: "allow" }] } })[0]!,
    /thresholds\[0\]\.action: expected flag, regenerate or block/,
  );
  assert.match(
    issues({ prompt: { thresholds: [{ when: "safe", atLeast: 0.5, action: "flag" }] } })[0]!,
    /thresholds\[0\]\.when: expected a measure: unsafe, controversial, unsafe\+controversial/,
  );
  assert.match(
    issues({ prompt: { default: { Unsafr: "block" } } })[0]!,
    /^p\.yaml: prompt\.default: unknown key "Unsafr"; expected Safe, Unsafe, Controversial$/,
  );
  assert.match(issues({ mode: "lax" })[0]!, /^p\.yaml: mode: expected strict or loose$/);
  assert.match(
    issues({ promt: {} })[0]!,
    /^p\.yaml: unknown key "promt"; expected name, description, extends/,
  );
  assert.match(
    issues({ prompt: { default: 3 } })[0]!,
    /prompt\.default: expected an action \(allow, flag, regenerate, block\) or a map/,
  );
  assert.match(issues(null)[0]!, /^p\.yaml: empty policy$/);
  assert.match(issues([1])[0]!, /expected a map at the top level/);
});

test("every problem is reported, not just the first", () => {
  const all = issues({
    mode: "x",
    prompt: { categories: { Nope: "block" } },
    response: { default: "maybe" },
  });
  assert.equal(all.length, 3);
});
