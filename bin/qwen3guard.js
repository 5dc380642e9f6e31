#!/usr/bin/env node
import { run } from "../dist/cli/main.js";

const status = await run(process.argv);
// An error may leave handles open (a model half loaded): exit now. Success exits when the work is done.
if (status !== 0) process.exit(status);
