/** Source entry point of the CLI, for running without a build (`node --import tsx src/cli/run.ts ...`); the
 * published entry point is bin/qwen3guard.js, which does the same from dist/. */
import { main } from "./main.js";

main(process.argv).catch((error: unknown) => {
  process.stderr.write(`qwen3guard: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
