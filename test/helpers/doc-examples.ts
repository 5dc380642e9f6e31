/**
 * Doc-comment examples as tests: the ```ts blocks of `@example` tags are found with the TypeScript compiler API,
 * typechecked against the sources (the package names mapped to src/ with compilerOptions.paths, in memory), and run
 * (their imports pointed at src/, model paths at tiny crafted models, /tmp paths at the test's own folder).
 *
 * Conventions an example follows:
 * - it imports what it shows from the package: `"qwen3guard"`, `"qwen3guard/core"` or `"qwen3guard/testing"`;
 * - a real model is named `/models/Qwen3Guard-Gen-0.6B` or `/models/Qwen3Guard-Stream-0.6B` (tests substitute
 *   crafted models, or only typecheck the example);
 * - files it writes are under `/tmp`;
 * - it prints with `console` only (the runner silences it), never `process.stdout`.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { repoRoot } from "./repo-data.js";

/** The package's entry points (package.json `exports`) and their sources. */
export const ENTRIES = {
  qwen3guard: "src/guard/index.ts",
  "qwen3guard/core": "src/core/index.ts",
  "qwen3guard/testing": "src/testing/index.ts",
} as const;

export type EntryName = keyof typeof ENTRIES;

/** The code of every ```ts block in the text of an `@example` tag. */
export function fencedCode(text: string): string[] {
  return [...text.matchAll(/```ts\n([\s\S]*?)\n?```/g)].map((m) => m[1]!);
}

/** The project's compiler options (tsconfig.json), with the package's names mapped to the sources. */
export function compilerOptions(): ts.CompilerOptions {
  const file = path.join(repoRoot, "tsconfig.json");
  const config = ts.readConfigFile(file, (f) => ts.sys.readFile(f));
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot);
  return {
    ...parsed.options,
    noEmit: true,
    paths: Object.fromEntries(
      Object.entries(ENTRIES).map(([name, source]) => [name, [path.join(repoRoot, source)]]),
    ),
  };
}

export interface ExampleSource {
  /** Where the example is, for messages: `src/core/labels.ts:12 (RISK_TIERS)`. */
  where: string;
  code: string;
}

export interface ExampleProblem {
  where: string;
  message: string;
}

/**
 * Typecheck examples as modules of their own (in memory, beside the repository so that `node_modules` resolves)
 * against the sources. Returns every diagnostic, with the example's line.
 */
export function typecheckExamples(
  examples: readonly ExampleSource[],
  oldProgram?: ts.Program,
): { problems: ExampleProblem[]; program: ts.Program } {
  const options = compilerOptions();
  const dir = path.join(repoRoot, "test", "__doc_examples__");
  const virtual = new Map(examples.map((e, i) => [path.join(dir, `example-${i}.ts`), e]));
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, onError, shouldCreate) => {
    const example = virtual.get(path.resolve(fileName));
    if (example) return ts.createSourceFile(fileName, example.code, language, true, ts.ScriptKind.TS);
    return getSourceFile(fileName, language, onError, shouldCreate);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (fileName) => virtual.has(path.resolve(fileName)) || fileExists(fileName);
  const readFile = host.readFile.bind(host);
  host.readFile = (fileName) => virtual.get(path.resolve(fileName))?.code ?? readFile(fileName);
  const program = ts.createProgram([...virtual.keys()], options, host, oldProgram);
  const problems: ExampleProblem[] = [];
  for (const [file, example] of virtual) {
    const source = program.getSourceFile(file)!;
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    for (const d of diagnostics) {
      const line = d.start === undefined ? "?" : source.getLineAndCharacterOfPosition(d.start).line + 1;
      const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      problems.push({ where: example.where, message: `example line ${line}: ${text}` });
    }
  }
  return { problems, program };
}

/** What a run of examples may use: a scratch folder, and models to stand in for `/models/...`. */
export interface ExampleEnvironment {
  /** Replaces `/tmp` at the start of the examples' string literals. */
  tmpDir: string;
  /** A Gen model (GGUF or folder) for `model: "/models/Qwen3Guard-Gen-0.6B"`. */
  genModel?: string;
  /** A Stream model folder for `model: "/models/Qwen3Guard-Stream-0.6B"`. */
  streamModel?: string;
}

/** Whether an example needs a model file (`/models/...`) it cannot make itself. */
export function needsModel(code: string): boolean {
  return /["'`]\/models\//.test(code);
}

/**
 * The example as a module that runs here: package imports pointed at the sources, `/models/...` at the crafted
 * models of `env` (quiet, one thread), `/tmp` at `env.tmpDir`, `console` silenced.
 */
export function runnableSource(code: string, env: ExampleEnvironment): string {
  // the example's own /tmp paths first: the paths substituted below may be under /tmp themselves
  let out = code.replace(/(["'`])\/tmp(?=[/"'`])/g, (_, quote: string) => `${quote}${env.tmpDir}`);
  out = out.replace(
    /from "(qwen3guard(?:\/core|\/testing)?)"/g,
    (_, name: EntryName) => `from ${JSON.stringify(pathToFileURL(path.join(repoRoot, ENTRIES[name])).href)}`,
  );
  if (env.genModel !== undefined) {
    out = out.replace(
      /model: "\/models\/Qwen3Guard-Gen-0\.6B"/g,
      `model: ${JSON.stringify(env.genModel)}, threads: 1, logger: () => {}`,
    );
  }
  if (env.streamModel !== undefined) {
    out = out.replace(
      /model: "\/models\/Qwen3Guard-Stream-0\.6B"/g,
      `model: ${JSON.stringify(env.streamModel)}, cacheDir: ${JSON.stringify(path.join(env.streamModel, ".cache"))}, quantization: "f32", threads: 1, logger: () => {}`,
    );
  }
  // the examples print; keep the test output clean (imports are hoisted: the line may come first)
  return ["const console = { log() {}, info() {}, warn() {}, error() {} };", out, ""].join("\n");
}

/** Write the example as `file` (a .mts) and import it: it runs to completion, or this throws what it threw. */
export async function runExample(code: string, file: string, env: ExampleEnvironment): Promise<void> {
  fs.writeFileSync(file, runnableSource(code, env));
  await import(pathToFileURL(file).href);
}
