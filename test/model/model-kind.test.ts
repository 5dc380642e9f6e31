/**
 * The wrong kind of model is refused, not run: tiny synthetic Gen and Stream folders, converted by our converter
 * (which records the kind), then loaded crosswise; GGUFs not written by us ("foreign") judged by architecture,
 * chat template and name; folders by config.json. See docs/checkpoint-layout.md ("Telling the kinds apart").
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GenGuard } from "../../src/guard/gen-guard.js";
import { StreamGuard } from "../../src/guard/stream-guard.js";
import { isQwen3GuardError } from "../../src/core/errors.js";
import { convertHfToGguf, CONVERTER_VERSION } from "../../src/model/convert/convert-hf-to-gguf.js";
import { hubRepoFromDir } from "../../src/model/convert/qwen3-gguf-metadata.js";
import { prepareGenAssets } from "../../src/model/gen-assets.js";
import { prepareStreamAssets } from "../../src/model/stream-assets.js";
import { GgufFile } from "../../src/model/gguf/gguf-reader.js";
import { writeGguf } from "../../src/model/gguf/gguf-writer.js";
import { gguf, type GgufMetadata } from "../../src/model/gguf/gguf-value.js";
import { ModelKindError, isGenChatTemplate, type FoundModelKind } from "../../src/model/model-kind.js";
import { genChatTemplate, qwen3ChatTemplate, synthesizeModel } from "../../src/model/synth/index.js";

const repoRoot = path.resolve(import.meta.dirname, "../..");
let work: string;
let genDir: string;
let streamDir: string;
let genGguf: string;
let streamGguf: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "q3g-kind-"));
  genDir = path.join(work, "gen");
  streamDir = path.join(work, "stream");
  synthesizeModel({ kind: "gen", shape: "tiny", outDir: genDir, dtype: "bf16", seed: 1 });
  synthesizeModel({ kind: "stream", shape: "tiny", outDir: streamDir, dtype: "bf16", seed: 2 });
  genGguf = path.join(work, "gen.gguf");
  streamGguf = path.join(work, "stream-backbone.gguf");
  await convertHfToGguf({ modelDir: genDir, outFile: genGguf, type: "q8_0" });
  await convertHfToGguf({ modelDir: streamDir, outFile: streamGguf, type: "q8_0" });
});

after(() => fs.rmSync(work, { recursive: true, force: true }));

function kindError(found: FoundModelKind, expected: "gen" | "stream", pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ModelKindError, String(error));
    assert.ok(isQwen3GuardError(error, "MODEL_KIND_MISMATCH"));
    assert.equal(error.found, found, error.message);
    assert.equal(error.expected, expected);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  };
}

/** A copy of a GGUF without our qwen3guard.* keys (as a GGUF made by another tool), with edited metadata. */
async function foreignCopy(src: string, dst: string, edit: (md: GgufMetadata) => void): Promise<string> {
  const g = GgufFile.open(src);
  try {
    const md: GgufMetadata = new Map([...g.metadata].filter(([k]) => !k.startsWith("qwen3guard.")));
    edit(md);
    await writeGguf(
      dst,
      md,
      g.tensors.map((t) => ({
        name: t.name,
        ne: t.ne,
        type: t.type,
        data: () => [g.readTensorBytes(t.name)],
      })),
    );
  } finally {
    g.close();
  }
  return dst;
}

/** A metadata-only GGUF (no tensors): enough for the kind to be judged, which happens before anything loads. */
async function metadataOnly(name: string, entries: Record<string, string>): Promise<string> {
  const file = path.join(work, name);
  await writeGguf(file, new Map(Object.entries(entries).map(([k, v]) => [k, gguf.str(v)])), []);
  return file;
}

/** A folder sharing the Gen folder's weights and tokenizer.json, with its own config.json and template. */
function variantFolder(
  name: string,
  config: (c: Record<string, unknown>) => void,
  template?: string,
): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(genDir, "model.safetensors"), path.join(dir, "model.safetensors"));
  fs.symlinkSync(path.join(genDir, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  const cfg = JSON.parse(fs.readFileSync(path.join(genDir, "config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  config(cfg);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(cfg));
  const tok = JSON.parse(fs.readFileSync(path.join(genDir, "tokenizer_config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  if (template !== undefined) tok.chat_template = template;
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tok));
  return dir;
}

test("the converter records the kind, its version and the source repository in the GGUF", async () => {
  const read = (file: string) => {
    const g = GgufFile.open(file);
    try {
      return {
        kind: g.getString("qwen3guard.kind"),
        version: g.getString("qwen3guard.converter_version"),
        digest: g.getString("qwen3guard.sha256"),
        architecture: g.getString("general.architecture"),
      };
    } finally {
      g.close();
    }
  };
  const gen = read(genGguf);
  assert.equal(gen.kind, "gen");
  assert.equal(gen.version, CONVERTER_VERSION);
  assert.match(gen.digest ?? "", /^[0-9a-f]{64}$/);
  assert.equal(gen.architecture, "qwen3");
  assert.equal(read(streamGguf).kind, "stream-backbone");

  // A Qwen3ForCausalLM folder with the plain ChatML template is a plain Qwen3 model, not a guard.
  const plain = variantFolder("plain-qwen3", () => undefined, qwen3ChatTemplate());
  const plainGguf = path.join(work, "plain.gguf");
  assert.equal((await convertHfToGguf({ modelDir: plain, outFile: plainGguf, type: "q8_0" })).kind, "qwen3");
  assert.equal(read(plainGguf).kind, "qwen3");

  assert.equal(
    hubRepoFromDir("/cache/models--Qwen--Qwen3Guard-Gen-0.6B/snapshots/0123abcd"),
    "Qwen/Qwen3Guard-Gen-0.6B",
  );
  const pulled = path.join(work, "pulled");
  fs.mkdirSync(pulled);
  fs.writeFileSync(
    path.join(pulled, ".qwen3guard-snapshot.json"),
    JSON.stringify({ repo: "Qwen/Qwen3Guard-Stream-4B" }),
  );
  assert.equal(hubRepoFromDir(pulled), "Qwen/Qwen3Guard-Stream-4B");
  assert.equal(hubRepoFromDir(genDir), undefined);
});

test("the Gen chat template is told from the plain Qwen3 ChatML template by what it renders", () => {
  assert.equal(isGenChatTemplate(genChatTemplate()), true);
  assert.equal(isGenChatTemplate(qwen3ChatTemplate()), false);
  assert.equal(isGenChatTemplate("{{ messages[0].content }}"), false);
});

test("GenGuard.load refuses a Stream backbone GGUF, saying what it is and what to pass", async () => {
  await assert.rejects(
    GenGuard.load({ model: streamGguf, gpu: "cpu" }),
    kindError(
      "stream",
      "gen",
      /is a Qwen3Guard-Stream backbone .*not a Qwen3Guard-Gen model.*qwen3guard stream/,
    ),
  );
});

test("StreamGuard.load refuses a Gen GGUF as the backbone, and a Gen model (folder or GGUF) as --heads", async () => {
  await assert.rejects(
    StreamGuard.load({ model: genGguf, heads: streamDir, gpu: "cpu" }),
    kindError(
      "gen",
      "stream",
      /is a Qwen3Guard-Gen model .*not a Qwen3Guard-Stream model.*qwen3guard moderate/,
    ),
  );
  await assert.rejects(
    StreamGuard.load({ model: streamGguf, heads: genDir, gpu: "cpu" }),
    kindError("gen", "stream", /config\.json says Qwen3ForCausalLM, not Qwen3ForGuardModel/),
  );
  await assert.rejects(
    StreamGuard.load({ model: streamGguf, heads: genGguf, gpu: "cpu" }),
    kindError(
      "gen",
      "stream",
      /--heads .*gen\.gguf is a Qwen3Guard-Gen model.*no GGUF carries the Qwen3Guard-Stream heads/,
    ),
  );
});

test("folders of the wrong kind are refused by config.json and chat template", async () => {
  await assert.rejects(
    GenGuard.load({ model: streamDir, gpu: "cpu" }),
    kindError("stream", "gen", /Qwen3Guard-Stream checkpoint \(config\.json: Qwen3ForGuardModel\)/),
  );
  await assert.rejects(
    StreamGuard.load({ model: genDir, gpu: "cpu" }),
    kindError("gen", "stream", /Qwen3Guard-Gen checkpoint \(config\.json: Qwen3ForCausalLM\)/),
  );
  const plain = variantFolder("plain-chat", () => undefined, qwen3ChatTemplate());
  await assert.rejects(
    GenGuard.load({ model: plain, gpu: "cpu" }),
    kindError("qwen3", "gen", /plain Qwen3 model .*chat template is not the Qwen3Guard-Gen template/),
  );
  const llama = variantFolder("llama", (c) => (c.architectures = ["LlamaForCausalLM"]));
  await assert.rejects(
    prepareGenAssets(llama, { cacheDir: path.join(work, "cache") }),
    kindError("other", "gen", /architectures: LlamaForCausalLM/),
  );
  await assert.rejects(
    prepareStreamAssets(llama, { cacheDir: path.join(work, "cache") }),
    kindError("other", "stream", /architectures: LlamaForCausalLM/),
  );
});

test("foreign GGUFs: refused for Gen unless the template renders the Gen prompt (then accepted, warned unless named)", async () => {
  const chatml = await metadataOnly("qwen3-chat.gguf", {
    "general.architecture": "qwen3",
    "general.name": "Qwen3 0.6B",
    "tokenizer.chat_template": qwen3ChatTemplate(),
  });
  await assert.rejects(
    GenGuard.load({ model: chatml, gpu: "cpu" }),
    kindError("qwen3", "gen", /"Qwen3 0\.6B" whose chat template is not the Qwen3Guard-Gen template/),
  );
  const bare = await metadataOnly("bare.gguf", { "general.architecture": "qwen3" });
  await assert.rejects(
    prepareGenAssets(bare),
    kindError("unknown", "gen", /neither a chat template nor a name/),
  );
  const llama = await metadataOnly("llama.gguf", {
    "general.architecture": "llama",
    "tokenizer.chat_template": genChatTemplate(),
  });
  await assert.rejects(prepareGenAssets(llama), kindError("other", "gen", /architecture "llama"/));
  const namedStream = await metadataOnly("named-stream.gguf", {
    "general.architecture": "qwen3",
    "general.name": "Qwen3Guard-Stream-0.6B",
  });
  await assert.rejects(prepareGenAssets(namedStream), kindError("stream", "gen", /by its name/));

  // A community Gen GGUF: the Gen template, no qwen3guard.* keys.
  const warnings: string[] = [];
  const community = await foreignCopy(genGguf, path.join(work, "community.gguf"), (md) =>
    md.set("general.name", gguf.str("some-guard")),
  );
  const assets = await prepareGenAssets(community, { warn: (m) => warnings.push(m) });
  assert.equal(assets.gguf, "given");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /not written by qwen3guard .*renders the Qwen3Guard-Gen prompt/);
  const named = await foreignCopy(genGguf, path.join(work, "named-gen.gguf"), (md) =>
    md.set("general.name", gguf.str("Qwen3Guard-Gen-0.6B")),
  );
  warnings.length = 0;
  await prepareGenAssets(named, { warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, [], "a Gen template and a Gen name: no warning");
});

test("foreign Stream backbones: accepted (warned unless named); a foreign Gen GGUF is refused", async () => {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const unnamed = await foreignCopy(streamGguf, path.join(work, "old-backbone.gguf"), () => undefined);
  const assets = await prepareStreamAssets(unnamed, { heads: streamDir, warn });
  assert.equal(assets.heads.hiddenSize, 64);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /does not say it is a Qwen3Guard-Stream backbone/);
  warnings.length = 0;
  const named = await foreignCopy(streamGguf, path.join(work, "named-backbone.gguf"), (md) =>
    md.set("general.name", gguf.str("Qwen3Guard-Stream-0.6B")),
  );
  await prepareStreamAssets(named, { heads: streamDir, warn });
  assert.deepEqual(warnings, []);
  const foreignGen = await foreignCopy(genGguf, path.join(work, "foreign-gen.gguf"), () => undefined);
  await assert.rejects(
    prepareStreamAssets(foreignGen, { heads: streamDir }),
    kindError("gen", "stream", /renders the Qwen3Guard-Gen prompt/),
  );
});

test("happy paths: our own Gen GGUF moderates, our Stream backbone loads with its heads, without warnings", async () => {
  const warnings: string[] = [];
  const guard = await GenGuard.load({
    model: genGguf,
    gpu: "cpu",
    contextSize: 512,
    sequences: 1,
    warn: (m) => warnings.push(m),
  });
  try {
    const verdict = await guard.moderate([{ role: "user", content: "How can I make a bomb?" }]);
    assert.ok(verdict.tokens!.prompt > 250, "the Gen prompt was rendered, not a plain chat template");
  } finally {
    await guard.close();
  }
  const stream = await prepareStreamAssets(streamGguf, { heads: streamDir, warn: (m) => warnings.push(m) });
  assert.equal(stream.gguf, "given");
  assert.deepEqual(warnings, []);
});

test("CLI: moderate -m <Stream backbone GGUF> exits non-zero with a one-line message", () => {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/cli/run.ts", "moderate", "-m", streamGguf, "How can I make a bomb?"],
    {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, QWEN3GUARD_CACHE: path.join(work, "cli-cache") },
      timeout: 120_000,
    },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    /^qwen3guard: .*stream-backbone\.gguf is a Qwen3Guard-Stream backbone .*not a Qwen3Guard-Gen model/,
  );
});
