/** Source entry point of the CLI, for running without a build (`node --import tsx src/cli/run.ts ...`); the
 * published entry point is bin/qwen3guard.js, which does the same from dist/. */
import { run } from "./main.js";

const status = await run(process.argv);
// An error may leave handles open (a model half loaded): exit now. Success exits when the work is done.
if (status !== 0) process.exit(status);
