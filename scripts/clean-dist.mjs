#!/usr/bin/env node
// Empties dist/ before a build, so that the package never ships JavaScript left from files since removed or
// excluded from the build (tsc only adds and overwrites).
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
