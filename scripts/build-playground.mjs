#!/usr/bin/env node
// Builds the playground page `qwen3guard serve` hosts (src/playground → dist/playground): app.ts and what it imports
// (the pure core modules: the Stream pair rule, the replay) bundled by esbuild into one ES module with its source
// map, beside index.html and playground.css copied as they are. Run by `npm run build`; the server tests run it too,
// so they always serve the current sources.
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = `${root}src/playground`;
const out = `${root}dist/playground`;

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [`${src}/app.ts`],
  outfile: `${out}/app.js`,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  sourcemap: true,
  sourcesContent: true,
  legalComments: "none",
  logLevel: "warning",
});
for (const file of ["index.html", "playground.css"]) copyFileSync(`${src}/${file}`, `${out}/${file}`);
