/**
 * The package's public surface, pinned: the names each entry point exports (package.json `exports`: "qwen3guard",
 * "qwen3guard/core", "qwen3guard/testing"), enumerated with the TypeScript compiler API. Every export has a doc
 * comment that says what it is, and an `@example` that imports it from the package; every example typechecks
 * against the sources, and every example that needs no model file (`/models/...`) runs. See docs/api.md.
 *
 * Adding or removing an export is a decision: update SURFACE below (and docs/api.md when a group changes).
 * The examples of the three guard classes' members, and the class examples that load `/models/...`, run in
 * test/guard/public-api.test.ts on crafted models.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import ts from "typescript";
import {
  ENTRIES,
  compilerOptions,
  fencedCode,
  needsModel,
  runExample,
  typecheckExamples,
  type EntryName,
  type ExampleSource,
} from "../helpers/doc-examples.js";
import { repoRoot } from "../helpers/repo-data.js";

/** The exported names of each entry, sorted. */
const SURFACE: Record<EntryName, string[]> = {
  qwen3guard: [
    "AnswerDecision",
    "Category",
    "ChatMessage",
    "ChatRole",
    "ChatTemplateError",
    "ChatTemplateNotFoundError",
    "ChecksumMismatchError",
    "CompletionPosition",
    "CompletionRequest",
    "CompletionResult",
    "CompletionToken",
    "ContextOverflowError",
    "ConvertError",
    "DEFAULT_REGENERATE_INSTRUCTION",
    "Decision",
    "DecisionReason",
    "Direction",
    "DirectionPolicy",
    "ENGINE_DEFAULTS",
    "EngineBackend",
    "EngineOptions",
    "EngineOptionsError",
    "EngineUnavailableError",
    "EvalDataError",
    "EvalDataErrorCode",
    "EvalOptionsError",
    "EvalResumeError",
    "EvalRowError",
    "EvalRunNotFoundError",
    "FoundModelKind",
    "GenEngineBrokenError",
    "GenGuard",
    "GenGuardInfo",
    "GenGuardOptions",
    "GenMode",
    "GenOutput",
    "GenOutputParseError",
    "GgmlTypeError",
    "GgufIntegrityError",
    "GgufReadError",
    "GgufWriteError",
    "GuardInfo",
    "GuardModelInfo",
    "HYBRID_REWARD",
    "HfConfigError",
    "HubError",
    "HubErrorReason",
    "HubHttpError",
    "HubUnreachableError",
    "InvalidConversationError",
    "KvCacheType",
    "LlamaDecodeError",
    "LlamaFfiDisposedError",
    "LlamaFfiError",
    "LlamaFfiInputError",
    "LlamaFfiNativeError",
    "LoadedPolicy",
    "ModelKind",
    "ModelKindError",
    "ModelSpecError",
    "ModelSpecErrorReason",
    "ModerateOptions",
    "ModerateTextStreamOptions",
    "ModeratedSource",
    "ModeratedSourceItem",
    "ModeratedStreamPart",
    "ModeratedStreamResult",
    "NodeLlamaInternalsError",
    "OutputVocabularyError",
    "POLICY_ACTIONS",
    "PROMPT_CATEGORIES",
    "Policy",
    "PolicyAction",
    "PolicyError",
    "PolicyExtendsCycleError",
    "PolicyInput",
    "PolicyIssue",
    "PolicyRegistry",
    "PolicyRegistryOptions",
    "PolicySnapshot",
    "PromptCategory",
    "QuantizeError",
    "Qwen3GuardDecisionEvent",
    "Qwen3GuardError",
    "Qwen3GuardMiddlewareOptions",
    "REFUSAL_LABELS",
    "REMOTE_DEFAULTS",
    "RESPONSE_CATEGORIES",
    "RISK_TIERS",
    "RefusalLabel",
    "RegenerateRequest",
    "RegexSyntaxError",
    "ReloadResult",
    "RemoteBackend",
    "RemoteBackendInfo",
    "RemoteBackendKind",
    "RemoteEngineError",
    "RemoteInputRefusedError",
    "RemoteOptions",
    "RemoteProtocolError",
    "RemoteTimeoutError",
    "RemoteUnavailableError",
    "RemoteVerdictInfo",
    "ResolvedEngineOptions",
    "ResponseCategory",
    "RewardInputError",
    "RiskTier",
    "Rollout",
    "RolloutJudgement",
    "RolloutVerdicts",
    "SafetensorsError",
    "StreamAnswerVerdict",
    "StreamAssetsError",
    "StreamCapacityError",
    "StreamContextFullError",
    "StreamEvent",
    "StreamGuard",
    "StreamGuardClosedError",
    "StreamGuardError",
    "StreamGuardInfo",
    "StreamGuardOptions",
    "StreamGuardStats",
    "StreamInputError",
    "StreamLabels",
    "StreamListenerError",
    "StreamModeration",
    "StreamPromptVerdict",
    "StreamRule",
    "StreamSession",
    "StreamSessionClosedError",
    "StreamSessionDefaults",
    "StreamSessionOptions",
    "StreamSessionState",
    "StreamTokenVerdict",
    "StreamTrigger",
    "Strictness",
    "SynthError",
    "SyntheticWeights",
    "TenantPolicyFiles",
    "ThresholdAction",
    "ThresholdMeasure",
    "ThresholdReason",
    "ThresholdRule",
    "TierActions",
    "TierProbabilities",
    "TierProbabilityBounds",
    "TierReason",
    "Timings",
    "TokenCounts",
    "TokenizerFormatError",
    "TokenizerUsageError",
    "UnknownTenantError",
    "Verdict",
    "WatchOptions",
    "createQwen3GuardMiddleware",
    "decide",
    "heldTiers",
    "isQwen3GuardError",
    "isRolloutSafe",
    "judgeRollout",
    "loadPolicy",
    "loadPolicyFile",
    "moderateTextStream",
    "parseChatMessages",
    "parsePolicyInput",
    "resolveEngineOptions",
    "rewardGuardOnly",
    "rewardHybrid",
    "splitThinking",
  ],
  "qwen3guard/core": [
    "CHAT_ROLES",
    "Category",
    "ChatMessage",
    "ChatRole",
    "Decision",
    "DecisionReason",
    "Direction",
    "DirectionPolicy",
    "GenOutput",
    "GenOutputParseError",
    "GenOutputParseResult",
    "GenPrompt",
    "GenPromptOptions",
    "HYBRID_REWARD",
    "InvalidConversationError",
    "POLICY_ACTIONS",
    "PROMPT_CATEGORIES",
    "Policy",
    "PolicyAction",
    "PolicyDocument",
    "PolicyError",
    "PolicyExtendsCycleError",
    "PolicyInput",
    "PolicyIssue",
    "PromptCategory",
    "PromptSegment",
    "ProxyReplay",
    "Qwen3GuardError",
    "REFUSAL_LABELS",
    "RESPONSE_CATEGORIES",
    "RISK_TIERS",
    "ReferenceGenOutput",
    "RefusalLabel",
    "ReplayPair",
    "ReplayToken",
    "ResponseCategory",
    "RewardInputError",
    "RiskTier",
    "RolloutJudgement",
    "SegmentKind",
    "StreamDecisionOptions",
    "StreamPrompt",
    "StreamReplay",
    "StreamRule",
    "StreamTracker",
    "StreamTrigger",
    "StreamVerdict",
    "Strictness",
    "SystemMessagePolicy",
    "THRESHOLD_MEASURES",
    "ThresholdAction",
    "ThresholdMeasure",
    "ThresholdReason",
    "ThresholdRule",
    "TierActions",
    "TierProbabilities",
    "TierReason",
    "Timings",
    "TokenCounts",
    "Verdict",
    "actionTable",
    "binaryTier",
    "categoriesFor",
    "clearedWhileStreaming",
    "decide",
    "emptyPolicy",
    "formatGenOutput",
    "genDirectionOf",
    "isCategory",
    "isQwen3GuardError",
    "isRiskTier",
    "isRolloutSafe",
    "isUnsafeUnder",
    "pairTrigger",
    "pairVerdict",
    "parseChatMessages",
    "parseGenOutput",
    "parseGenOutputReference",
    "parsePolicyDocument",
    "parsePolicyInput",
    "policyDocument",
    "renderGenPrompt",
    "renderStreamPrompt",
    "replayProxy",
    "replayStream",
    "resolvePolicy",
    "rewardGuardOnly",
    "rewardHybrid",
    "splitThinking",
    "streamPairs",
    "streamStop",
    "streamVerdict",
    "tryParseGenOutput",
  ],
  "qwen3guard/testing": [
    "CRAFTED_GEN_DEFAULT_TRIGGER",
    "CRAFTED_STREAM_DEFAULTS",
    "CraftedGenOptions",
    "CraftedGenTrigger",
    "CraftedStreamOptions",
    "CraftedStreamTriggerSet",
    "CraftedStreamTriggers",
    "SYNTH_KINDS",
    "SYNTH_SHAPES",
    "SynthDtype",
    "SynthError",
    "SynthKind",
    "SynthShape",
    "SynthesizeOptions",
    "SynthesizeResult",
    "WriteProgress",
    "craftedGenTrigger",
    "synthesizeModel",
    "writeCraftedGenModel",
    "writeCraftedStreamModel",
  ],
};

interface Export {
  entry: EntryName;
  name: string;
  /** The declaration the name resolves to (through re-exports). */
  declaration: ts.Declaration;
}

/** One documented declaration (exported from one entry or several). */
interface Documented {
  where: string;
  /** The doc comment's text before its tags. */
  description: string;
  /** The code of every ```ts block of its `@example` tags. */
  examples: string[];
  exports: Export[];
}

let program: ts.Program;
let exported: Export[];
let documented: Map<ts.Declaration, Documented>;
let tmp: string;
let savedCache: string | undefined;

function declarationOf(checker: ts.TypeChecker, symbol: ts.Symbol): ts.Declaration {
  const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const declarations = target.declarations ?? [];
  // the declaration that carries the doc comment (overloads, merged declarations), else the first
  const declaration = declarations.find((d) => lastDoc(d) !== undefined) ?? declarations[0];
  assert.ok(declaration, `${symbol.name} has a declaration`);
  return declaration;
}

/** The doc comment right before a declaration (for a variable, before its statement). */
function lastDoc(declaration: ts.Declaration): ts.JSDoc | undefined {
  return ts.getJSDocCommentsAndTags(declaration).filter(ts.isJSDoc).at(-1);
}

function where(declaration: ts.Declaration, name: string): string {
  const file = declaration.getSourceFile();
  const line = file.getLineAndCharacterOfPosition(declaration.getStart()).line + 1;
  return `${path.relative(repoRoot, file.fileName)}:${line} (${name})`;
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-exports-"));
  savedCache = process.env.QWEN3GUARD_CACHE;
  process.env.QWEN3GUARD_CACHE = path.join(tmp, "cache");
  const entries = Object.entries(ENTRIES) as [EntryName, string][];
  program = ts.createProgram(
    entries.map(([, source]) => path.join(repoRoot, source)),
    compilerOptions(),
  );
  const checker = program.getTypeChecker();
  exported = entries.flatMap(([entry, source]) => {
    const file = program.getSourceFile(path.join(repoRoot, source))!;
    return checker
      .getExportsOfModule(checker.getSymbolAtLocation(file)!)
      .map((symbol) => ({ entry, name: symbol.name, declaration: declarationOf(checker, symbol) }));
  });
  documented = new Map();
  for (const e of exported) {
    let doc = documented.get(e.declaration);
    if (doc === undefined) {
      const jsDoc = lastDoc(e.declaration);
      doc = {
        where: where(e.declaration, e.name),
        description: ts.getTextOfJSDocComment(jsDoc?.comment)?.trim() ?? "",
        examples: (jsDoc?.tags ?? [])
          .filter((tag) => tag.tagName.text === "example")
          .flatMap((tag) => fencedCode(ts.getTextOfJSDocComment(tag.comment) ?? "")),
        exports: [],
      };
      documented.set(e.declaration, doc);
    }
    doc.exports.push(e);
  }
});

after(() => {
  if (savedCache === undefined) delete process.env.QWEN3GUARD_CACHE;
  else process.env.QWEN3GUARD_CACHE = savedCache;
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("each entry exports exactly the pinned names", () => {
  for (const entry of Object.keys(ENTRIES) as EntryName[]) {
    const names = exported.filter((e) => e.entry === entry).map((e) => e.name);
    const pinned = new Set(SURFACE[entry]);
    const added = names.filter((n) => !pinned.has(n)).sort();
    const removed = SURFACE[entry].filter((n) => !names.includes(n));
    assert.deepEqual(
      { added, removed },
      { added: [], removed: [] },
      `the exports of "${entry}" changed: if that is deliberate, update SURFACE in this test (and docs/api.md)`,
    );
  }
  for (const list of Object.values(SURFACE))
    assert.deepEqual(list, [...list].sort(), "SURFACE lists are sorted");
});

/** `name` → entry for every `import { name } from "<entry>"` of an example. */
function importsOf(code: string): { name: string; entry: string }[] {
  const out: { name: string; entry: string }[] = [];
  for (const m of code.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const spec of m[1]!.split(",")) {
      const name = spec
        .trim()
        .replace(/^type\s+/, "")
        .split(/\s+as\s+/)[0]!
        .trim();
      if (name !== "") out.push({ name, entry: m[2]! });
    }
  }
  return out;
}

test("every export has a doc comment and an @example that imports it from the package", () => {
  const problems: string[] = [];
  for (const doc of documented.values()) {
    const names = [...new Set(doc.exports.map((e) => e.name))].join(", ");
    if (doc.description.length < 10) problems.push(`${doc.where}: no doc comment saying what ${names} is`);
    if (doc.examples.length === 0) {
      problems.push(`${doc.where}: no @example (a \`\`\`ts block) for ${names}`);
      continue;
    }
    for (const e of doc.exports) {
      // imported under this name from an entry where the name is this declaration
      const ok = doc.examples.some((code) =>
        importsOf(code).some(
          (i) =>
            i.name === e.name &&
            exported.some((x) => x.entry === i.entry && x.name === e.name && x.declaration === e.declaration),
        ),
      );
      if (!ok) problems.push(`${doc.where}: no example imports ${e.name} from the package`);
    }
    for (const code of doc.examples) {
      if (/process\.stdout/.test(code)) problems.push(`${doc.where}: an example writes to process.stdout`);
    }
  }
  assert.deepEqual(problems, []);
});

function allExamples(): ExampleSource[] {
  return [...documented.values()].flatMap((doc) => doc.examples.map((code) => ({ where: doc.where, code })));
}

test("every example typechecks against the sources", (t) => {
  const started = performance.now();
  const examples = allExamples();
  const { problems } = typecheckExamples(examples, program);
  assert.deepEqual(
    problems.map((p) => `${p.where}: ${p.message}`),
    [],
  );
  t.diagnostic(`${examples.length} examples typechecked in ${Math.round(performance.now() - started)} ms`);
});

test("every example that needs no model file runs", { timeout: 300_000 }, async (t) => {
  const started = performance.now();
  // the modules live in the repository, so that packages the examples import (ai, ...) resolve from node_modules
  fs.mkdirSync(path.join(repoRoot, ".cache"), { recursive: true });
  const modules = fs.mkdtempSync(path.join(repoRoot, ".cache", "exports-examples-"));
  const env = { tmpDir: path.join(tmp, "files") };
  fs.mkdirSync(env.tmpDir);
  const runnable = allExamples().filter((e) => !needsModel(e.code));
  const failures: string[] = [];
  const times: [number, string][] = [];
  try {
    for (const [i, { where, code }] of runnable.entries()) {
      const start = performance.now();
      try {
        await runExample(code, path.join(modules, `example-${i}.mts`), env);
        times.push([performance.now() - start, where]);
      } catch (error) {
        const stack = error instanceof Error ? (error.stack ?? "").split("\n").slice(0, 4).join("\n") : "";
        failures.push(`${where}: the example throws ${String(error)}\n${stack}\n${code}`);
      }
    }
  } finally {
    fs.rmSync(modules, { recursive: true, force: true });
  }
  assert.deepEqual(failures, []);
  const skipped = allExamples().length - runnable.length;
  const slowest = times.sort((x, y) => y[0] - x[0]).slice(0, 5);
  t.diagnostic(`slowest: ${slowest.map(([ms, where]) => `${where} ${Math.round(ms)} ms`).join(", ")}`);
  t.diagnostic(
    `${runnable.length} examples ran in ${Math.round(performance.now() - started)} ms (${skipped} need a model file: typechecked only)`,
  );
});
