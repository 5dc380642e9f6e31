#!/usr/bin/env node
// Prints one of the README's two set-up commands ("main" or "test"): the first two ```sh blocks under
// "## Set up on a fresh machine". CI runs exactly these, so the README cannot drift from what works.
import { readFileSync } from "node:fs";

const which = process.argv[2];
if (which !== "main" && which !== "test") {
  console.error("usage: node scripts/readme-setup-commands.mjs main|test");
  process.exit(2);
}
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const section = readme.split(/^## Set up on a fresh machine.*$/m)[1]?.split(/^## /m)[0];
const blocks = [...(section ?? "").matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim());
if (blocks.length < 2) {
  console.error('README.md: "## Set up on a fresh machine" must hold two ```sh blocks (main job, tests)');
  process.exit(1);
}
console.log(which === "main" ? blocks[0] : blocks[1]);
