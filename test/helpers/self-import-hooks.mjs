// Module hooks for self-import.mjs: the package name and its "./core" export resolve to the TypeScript sources.
const targets = {
  qwen3guard: new URL("../../src/guard/index.ts", import.meta.url).href,
  "qwen3guard/core": new URL("../../src/core/index.ts", import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  const url = targets[specifier];
  // Through the next resolver (tsx), which marks the .ts file for its loader.
  return next(url ?? specifier, context);
}
