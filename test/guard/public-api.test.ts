/**
 * The public surface of GenGuard, StreamGuard and StreamSession: exactly the documented members (no engine,
 * assets, tokenizer, coalescer, heads... reachable as properties), a read-only `info` that says what was loaded
 * and how it runs, and a doc comment with an `@example` on every public member — each example run for real here
 * (its model paths pointed at tiny crafted models).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { GenGuard, StreamGuard, StreamSession } from "../../src/guard/index.js";
import { convertHfToGguf } from "../../src/model/convert/convert-hf-to-gguf.js";
import {
  synthesizeModel,
  writeCraftedGenModel,
  writeCraftedStreamModel,
} from "../../src/model/synth/index.js";
import { runExample, runnableSource } from "../helpers/doc-examples.js";
import { repoRoot } from "../helpers/repo-data.js";
import { EXACT, loadGuard, tempDir } from "./stream-fixture.js";

const SOURCES = {
  GenGuard: "src/guard/gen-guard.ts",
  StreamGuard: "src/guard/stream-guard.ts",
  StreamSession: "src/guard/stream-session.ts",
} as const;

/** The documented public members (prototype and static), and nothing else. */
const SURFACE = {
  GenGuard: {
    static: ["load"],
    instance: [
      "info",
      "render",
      "tokenize",
      "moderate",
      "complete",
      "moderatePrompt",
      "moderateResponse",
      "close",
      "[Symbol.asyncDispose]",
    ],
  },
  StreamGuard: {
    static: ["load"],
    instance: [
      "info",
      "openSessions",
      "stats",
      "promptIds",
      "openStream",
      "hiddenStates",
      "moderate",
      "close",
      "[Symbol.asyncDispose]",
    ],
  },
  StreamSession: {
    static: [],
    instance: [
      "prompt",
      "answerStart",
      "rule",
      "mode",
      "state",
      "tokenCount",
      "trigger",
      "verdict",
      "push",
      "pushTokens",
      "end",
      "settled",
      "onTrigger",
      "events",
      "close",
      "[Symbol.asyncDispose]",
    ],
  },
} as const;

const INTERNALS = [
  "engine",
  "assets",
  "tokenizer",
  "coalescer",
  "heads",
  "scorer",
  "vocabularies",
  "template",
  "pool",
  "sequence",
  "prefixLength",
  "runtime",
  "engineKind",
  "maxSessions",
  "labels",
  "pushText",
];

let tmp: ReturnType<typeof tempDir>;
let genDir: string;
let genGguf: string;
let streamDir: string;
let gen: GenGuard;
let stream: StreamGuard;

before(async () => {
  tmp = tempDir("public-api-");
  genDir = writeCraftedGenModel(path.join(tmp.dir, "gen")).dir;
  genGguf = path.join(tmp.dir, "gen.gguf");
  await convertHfToGguf({ modelDir: genDir, outFile: genGguf, type: "f32" });
  streamDir = writeCraftedStreamModel(path.join(tmp.dir, "stream")).dir;
  gen = await GenGuard.load({
    model: genGguf,
    kvCache: "f32",
    threads: 1,
    contextSize: 1024,
    sequences: 1,
    logger: () => {},
  });
  stream = await loadGuard(streamDir);
});

after(async () => {
  await gen?.close();
  await stream?.close();
  tmp?.cleanup();
});

function memberName(key: string | symbol): string {
  if (key === Symbol.asyncDispose) return "[Symbol.asyncDispose]";
  return typeof key === "symbol" ? `[${key.description}]` : key;
}

function members(target: object): string[] {
  return Reflect.ownKeys(target)
    .filter((k) => k !== "constructor" && k !== "length" && k !== "name" && k !== "prototype")
    .map(memberName)
    .sort();
}

test("the three classes expose exactly the documented members; internals are not properties", async () => {
  const session = await stream.openStream([{ role: "user", content: "Hi" }]);
  try {
    const cases = [
      ["GenGuard", GenGuard, gen],
      ["StreamGuard", StreamGuard, stream],
      ["StreamSession", StreamSession, session],
    ] as const;
    for (const [name, cls, instance] of cases) {
      assert.deepEqual(members(cls.prototype), [...SURFACE[name].instance].sort(), `${name} prototype`);
      assert.deepEqual(members(cls), [...SURFACE[name].static].sort(), `${name} static members`);
      assert.deepEqual(Reflect.ownKeys(instance), [], `${name} instances have no own properties`);
      for (const key of INTERNALS) assert.equal(key in instance, false, `${name}.${key} is not reachable`);
    }
    assert.throws(
      () => new (StreamSession as unknown as new () => unknown)(),
      "a session cannot be made by hand",
    );
  } finally {
    await session.close();
  }
});

test("GenGuard.info: the model, synthetic weights, engine, device, context, sequences, KV cache; read-only", () => {
  const info = gen.info;
  assert.deepEqual(info, {
    kind: "gen",
    model: { name: "gen.gguf", source: "path", path: genGguf, gguf: genGguf },
    synthetic: "hand-set",
    engine: "llama-ffi",
    device: "cpu",
    contextSize: info.contextSize,
    sequences: 1,
    kvCache: "f32",
  });
  assert.ok(info.contextSize >= 1024, `context ${info.contextSize}`);
  assert.ok(Object.isFrozen(info) && Object.isFrozen(info.model));
  assert.throws(() => ((info as { engine: string }).engine = "x"), TypeError);
  assert.equal(gen.info, info, "the same object every time");
});

test("StreamGuard.info: folder model, labels from config.json; a seeded synthetic model says random", async () => {
  const info = stream.info;
  assert.equal(info.kind, "stream");
  assert.deepEqual(info.model, {
    name: "stream",
    source: "path",
    path: streamDir,
    gguf: info.model.gguf,
  });
  assert.ok(fs.existsSync(info.model.gguf!) && info.model.gguf!.endsWith(".gguf"));
  assert.equal(info.synthetic, "hand-set");
  assert.equal(info.engine, "llama-ffi");
  assert.equal(info.device, "cpu");
  assert.equal(info.sequences, EXACT.sequences);
  assert.equal(info.kvCache, "f32");
  assert.ok(info.contextSize >= EXACT.contextSize!);
  assert.deepEqual(info.labels.responseRisk, ["Safe", "Unsafe", "Controversial"]);
  assert.equal(info.labels.queryCategories.at(-1), "Jailbreak");
  assert.ok(Object.isFrozen(info.labels) && Object.isFrozen(info.labels.responseCategories));
  assert.throws(() => (info.labels.responseCategories as string[]).push("x"), TypeError);

  const randomDir = path.join(tmp.dir, "random-stream");
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: randomDir, dtype: "f32", seed: 1 });
  const random = await loadGuard(randomDir, { sequences: 1 });
  try {
    assert.equal(random.info.synthetic, "random");
    assert.equal(random.info.sequences, 1);
  } finally {
    await random.close();
  }
});

test("StreamGuard.stats is a snapshot of the decode counts", async () => {
  const before = stream.stats;
  await stream.moderate([
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello there." },
  ]);
  const after = stream.stats;
  assert.ok(after.decodes > before.decodes && after.tokens > before.tokens);
  assert.ok(Object.isFrozen(after));
});

/** The JSDoc block right before a member's declaration in a class's source, or undefined. */
function docOf(source: string, member: string): string | undefined {
  const name = member.replace(/[[\]().]/g, (c) => `\\${c}`);
  const declaration = new RegExp(
    `\\n(  (?:static )?(?:async )?(?:get )?${name}(?:<[^>]*>)?\\()|\\n(  (?:static )?(?:async )?(?:get )?${name}\\b)`,
  );
  const match = declaration.exec(source);
  if (!match) return undefined;
  const before = source.slice(0, match.index).trimEnd();
  if (!before.endsWith("*/")) return undefined;
  return before.slice(before.lastIndexOf("/**"));
}

test("every public member (and each class) has a doc comment with an @example", () => {
  for (const [name, file] of Object.entries(SOURCES) as [keyof typeof SOURCES, string][]) {
    const source = fs.readFileSync(path.join(repoRoot, file), "utf8");
    const classAt = source.indexOf(`export class ${name}`);
    const beforeClass = source.slice(0, classAt).trimEnd();
    assert.ok(
      beforeClass.endsWith("*/") && beforeClass.slice(beforeClass.lastIndexOf("/**")).includes("@example"),
      `${name} has a class doc comment with an @example`,
    );
    const body = source.slice(classAt);
    for (const member of [...SURFACE[name].static, ...SURFACE[name].instance]) {
      const doc = docOf(body, member);
      assert.ok(doc, `${name}.${member} has a doc comment`);
      assert.match(doc, /@example\n\s*\* ```ts\n/, `${name}.${member} has an @example`);
    }
  }
});

/** Every ```ts block of an @example in the three classes' sources. */
function examples(): { where: string; code: string }[] {
  const out: { where: string; code: string }[] = [];
  for (const file of Object.values(SOURCES)) {
    const source = fs.readFileSync(path.join(repoRoot, file), "utf8");
    for (const block of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
      const doc = block[0];
      const example = /@example\s*\n\s*\* ```ts\n([\s\S]*?)\n\s*\* ```/.exec(doc);
      if (!example) continue;
      const code = example[1]!
        .split("\n")
        .map((line) => line.replace(/^\s*\* ?/, ""))
        .join("\n");
      const line = source.slice(0, block.index).split("\n").length;
      out.push({ where: `${file}:${line}`, code });
    }
  }
  return out;
}

test("every @example runs (model paths pointed at the crafted models)", async (t) => {
  const all = examples();
  assert.ok(all.length >= 36, `${all.length} examples`);
  const dir = path.join(tmp.dir, "examples");
  fs.mkdirSync(dir);
  const env = { tmpDir: dir, genModel: genGguf, streamModel: streamDir };
  for (const [i, { where, code }] of all.entries()) {
    assert.match(code, /from "qwen3guard"/, `${where} imports from the package`);
    assert.ok(!/\/models\//.test(runnableSource(code, env)), `${where}: every model path is replaced`);
    try {
      await runExample(code, path.join(dir, `example-${i}.mts`), env);
    } catch (error) {
      assert.fail(`${where}: the example throws ${String(error)}\n${code}`);
    }
  }
  t.diagnostic(`${all.length} examples ran`);
});
