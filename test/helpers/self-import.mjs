// `node --import tsx --import ./test/helpers/self-import.mjs FILE`: `import … from "qwen3guard"` in FILE loads the
// package from src/ (as the tests run it) instead of the built dist/ that the package's own name resolves to.
import { register } from "node:module";

register("./self-import-hooks.mjs", import.meta.url);
