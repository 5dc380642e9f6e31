/** Every relative link in README.md and docs/*.md leads to a file (or a folder of files) the repository tracks. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { repoRoot } from "../helpers/repo-data.js";

const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: repoRoot, encoding: "utf8" })
  .split("\0")
  .filter((f) => f.length > 0);
const files = new Set(tracked);
const folders = new Set(
  tracked.flatMap((f) =>
    f
      .split("/")
      .slice(0, -1)
      .map((_, i, parts) => parts.slice(0, i + 1).join("/")),
  ),
);

/** Link targets of a Markdown text: inline `[text](target)`, images, and reference definitions `[id]: target`. */
function linkTargets(markdown: string): string[] {
  const text = markdown.replace(/^(```|~~~)[\s\S]*?^\1/gm, ""); // no links inside code blocks
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const defined = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  return [...inline, ...defined];
}

test("link targets are found in inline links, images and reference definitions, not in code", () => {
  const md = '[a](docs/a.md) ![i](img/x.png "t") [b](<docs/b c.md>)\n[r]: ../r.md\n```\n[c](nope.md)\n```\n';
  assert.deepEqual(linkTargets(md), ["docs/a.md", "img/x.png", "../r.md"]);
});

test("every relative link in README.md and docs/*.md resolves to a tracked file or folder", () => {
  const docs = ["README.md", ...tracked.filter((f) => /^docs\/[^/]+\.md$/.test(f))];
  assert.ok(docs.length > 3, `checked ${docs.join(", ")}`);
  const broken: string[] = [];
  let checked = 0;
  for (const doc of docs) {
    for (const target of linkTargets(fs.readFileSync(path.join(repoRoot, doc), "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue; // URLs, mailto:, anchors
      checked++;
      const file = decodeURIComponent(target.split("#")[0]!);
      const resolved = path.posix
        .normalize(path.posix.join(path.posix.dirname(doc), file))
        .replace(/\/$/, "");
      if (!files.has(resolved) && !folders.has(resolved)) broken.push(`${doc}: ${target}`);
    }
  }
  assert.ok(checked >= 10, `${checked} relative links checked`);
  assert.deepEqual(broken, []);
});
