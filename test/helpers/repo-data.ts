/**
 * The repository's own test data (`data/` at the root of the clone): the public data sets and the exact Gen prompt
 * fixtures. Tests read only these copies, so a clone passes its tests with nothing beside it.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const dataDir = path.join(repoRoot, "data");

/** Path of a file under `data/`, checked to exist. */
export function dataFile(...parts: string[]): string {
  const file = path.join(dataDir, ...parts);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: it is part of the repository (data/); restore it with git checkout`);
  }
  return file;
}
