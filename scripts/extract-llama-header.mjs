#!/usr/bin/env node
// Generates src/engine/llama-ffi/llamaHeader.generated.ts from the llama.cpp source that node-llama-cpp
// ships with its prebuilt binaries (node_modules/node-llama-cpp/llama/gitRelease.bundle).
//
// Everything the koffi binding needs about the C ABI comes from that source, never from memory:
//   - struct field lists (C types + names), parsed from include/llama.h;
//   - sizeof/offsetof of every field and the value of every default parameter, computed by the C compiler
//     (gcc/cc) against the bundled headers: the default-parameter initializers are copied verbatim from
//     src/llama-context.cpp / src/llama-model.cpp and compiled as C;
//   - the function prototypes the binding uses, copied from the headers and normalised for koffi;
//   - the expected llama_version() string, from CMakeLists.txt.
//
// Usage: node scripts/extract-llama-header.mjs [--check]
//   --check  exit 1 if the committed file differs from what would be generated (for CI).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bundle = join(root, "node_modules/node-llama-cpp/llama/gitRelease.bundle");
const outFile = join(root, "src/engine/llama-ffi/llamaHeader.generated.ts");
const checkOnly = process.argv.includes("--check");

/** Structs whose layout the binding needs (passed or returned by value). */
const STRUCTS = ["llama_batch", "llama_model_params", "llama_context_params"];

/** Functions the binding declares, with the header each lives in. */
const FUNCTIONS = {
  "include/llama.h": {
    library: "llama",
    names: [
      "llama_version",
      "llama_model_default_params",
      "llama_context_default_params",
      "llama_backend_init",
      "llama_log_set",
      "llama_supports_gpu_offload",
      "llama_model_load_from_file",
      "llama_model_free",
      "llama_init_from_model",
      "llama_free",
      "llama_model_get_vocab",
      "llama_vocab_n_tokens",
      "llama_model_n_embd",
      "llama_model_n_layer",
      "llama_model_n_ctx_train",
      "llama_n_ctx",
      "llama_n_ctx_seq",
      "llama_n_batch",
      "llama_n_ubatch",
      "llama_n_seq_max",
      "llama_get_memory",
      "llama_memory_clear",
      "llama_memory_seq_rm",
      "llama_memory_seq_cp",
      "llama_memory_seq_pos_min",
      "llama_memory_seq_pos_max",
      "llama_batch_init",
      "llama_batch_free",
      "llama_decode",
      "llama_synchronize",
      "llama_get_logits_ith",
      "llama_get_embeddings_ith",
    ],
  },
  "ggml/include/ggml-backend.h": {
    library: "ggml",
    names: [
      "ggml_backend_load_all_from_path",
      "ggml_backend_reg_count",
      "ggml_backend_dev_count",
      "ggml_backend_dev_get",
      "ggml_backend_dev_name",
      "ggml_backend_dev_type",
    ],
  },
};

/** Integer constants the binding uses, evaluated by the compiler. */
const CONSTANTS = [
  "GGML_TYPE_F32",
  "GGML_TYPE_F16",
  "LLAMA_FLASH_ATTN_TYPE_AUTO",
  "LLAMA_FLASH_ATTN_TYPE_DISABLED",
  "LLAMA_FLASH_ATTN_TYPE_ENABLED",
  "LLAMA_POOLING_TYPE_NONE",
  "LLAMA_ATTENTION_TYPE_CAUSAL",
  "GGML_LOG_LEVEL_NONE",
  "GGML_LOG_LEVEL_DEBUG",
  "GGML_LOG_LEVEL_INFO",
  "GGML_LOG_LEVEL_WARN",
  "GGML_LOG_LEVEL_ERROR",
  "GGML_LOG_LEVEL_CONT",
  "GGML_BACKEND_DEVICE_TYPE_CPU",
  "GGML_BACKEND_DEVICE_TYPE_GPU",
  "GGML_MAX_NAME",
];

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
}

function stripComments(src) {
  return src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, "");
}

/** Field list of `struct NAME { ... }` (also `typedef struct NAME { ... } NAME;`). */
function parseStruct(header, name) {
  const re = new RegExp(`struct\\s+${name}\\s*\\{([\\s\\S]*?)\\}`, "m");
  const m = re.exec(stripComments(header));
  if (!m) throw new Error(`struct ${name} not found in llama.h`);
  return m[1]
    .split(";")
    .map((d) => d.replace(/\s+/g, " ").trim())
    .filter(Boolean)
    .map((decl) => {
      const fm = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*(\[[^\]]*\])?$/.exec(decl);
      if (!fm || fm[3]) throw new Error(`struct ${name}: cannot parse field declaration "${decl}"`);
      return { name: fm[2], ctype: fm[1].replace(/\s*\*\s*/g, " *").trim() };
    });
}

/** The prototype of NAME in a header, with API macros and `struct` tags removed, enums as int. */
function parsePrototype(header, name) {
  const src = stripComments(header).replace(/\s+/g, " ");
  const re = new RegExp(
    `(?:LLAMA_API|GGML_API|GGML_BACKEND_API)\\s+([^;(]*?\\b${name})\\s*\\(([^)]*)\\)\\s*;`,
  );
  const m = re.exec(src);
  if (!m) throw new Error(`function ${name} not found`);
  // C enums are int-sized on every ABI llama.cpp supports; koffi's parser knows no `struct`/`enum` tags.
  const clean = (s) =>
    s
      .replace(/\benum\s+[A-Za-z_]\w*/g, "int")
      .replace(/\bstruct\b/g, "")
      .replace(/\s*\*\s*/g, " *")
      .replace(/\s+/g, " ")
      .trim();
  const ret = clean(m[1].slice(0, -name.length));
  const params = m[2].trim() === "void" ? "" : m[2].split(",").map(clean).join(", ");
  return `${ret} ${name}(${params})`;
}

const PRIMITIVES = new Set([
  "void",
  "bool",
  "float",
  "double",
  "int",
  "int8_t",
  "uint8_t",
  "int32_t",
  "uint32_t",
  "int64_t",
  "uint64_t",
  "size_t",
  "char",
]);

/** typedef name -> koffi type spec, for every typedef in the given headers that koffi needs resolved. */
function parseTypedefs(headers) {
  const map = new Map();
  for (const h of headers) {
    const src = stripComments(h).replace(/\s+/g, " ");
    for (const m of src.matchAll(/typedef ([^;{}()]*?)\(\s*\*\s*(\w+)\s*\)\s*\([^;]*\);/g))
      map.set(m[2], "void *"); // function pointer
    for (const m of src.matchAll(/typedef (?!struct \w+ \{)([^;{}()]*?[\s*])(\w+)\s*;/g)) {
      const target = m[1].trim();
      map.set(m[2], target.includes("*") ? "void *" : target.replace(/^enum \w+$/, "int"));
    }
  }
  return map;
}

/** The koffi spec of a C type: pointers become `void *` (BigInt addresses), enums `int`, typedefs resolved. */
function koffiType(ctype, typedefs) {
  const t = ctype
    .replace(/\bconst\b/g, "")
    .replace(/\s+/g, " ")
    .trim();
  if (t.includes("*")) return "void *";
  if (/^enum \w+$/.test(t)) return "int";
  if (PRIMITIVES.has(t)) return t;
  const resolved = typedefs.get(t);
  if (!resolved) throw new Error(`cannot resolve C type "${ctype}"`);
  return koffiType(resolved, typedefs);
}

/** Callback typedefs the binding registers JS functions for. */
const CALLBACKS = ["ggml_backend_sched_eval_callback", "ggml_log_callback"];

/** `typedef RET (*NAME)(ARGS);` as a koffi prototype; pointers other than strings become `void *`, enums int. */
function parseCallback(headers, name) {
  for (const h of headers) {
    const src = stripComments(h).replace(/\s+/g, " ");
    const m = new RegExp(`typedef ([^;()]*?)\\(\\s*\\*\\s*${name}\\s*\\)\\s*\\(([^)]*)\\)\\s*;`).exec(src);
    if (!m) continue;
    const param = (p) => {
      const pm = /^(.*?)(\w+)$/.exec(p.trim());
      if (!pm) throw new Error(`${name}: cannot parse parameter "${p}"`);
      let t = pm[1].replace(/\s+/g, " ").trim();
      if (/^(const )?char \*$/.test(t.replace(/\s*\*\s*/g, " *").trim())) t = "const char *";
      else if (t.includes("*")) t = "void *";
      else if (/^enum \w+$/.test(t)) t = "int";
      return `${t} ${pm[2]}`;
    };
    return `${m[1].trim()} ${name}(${m[2].split(",").map(param).join(", ")})`;
  }
  throw new Error(`callback typedef ${name} not found`);
}

/** The brace initializer of `TYPE NAME() { TYPE result = { ... }; ...}` in a C++ source. */
function parseDefaultsInitializer(source, fnName) {
  const at = source.indexOf(`${fnName}() {`);
  if (at < 0) throw new Error(`${fnName} not found`);
  const open = source.indexOf("{", source.indexOf("result", at));
  const close = source.indexOf("};", open);
  return source.slice(open, close + 1);
}

function getSource() {
  if (!existsSync(bundle)) throw new Error(`missing ${bundle}: run npm ci first`);
  const dir = mkdtempSync(join(tmpdir(), "llama-src-"));
  const git = join(dir, "git");
  sh("git", ["clone", "--quiet", "--bare", bundle, git]);
  const head = sh("git", ["--git-dir", git, "rev-parse", "HEAD"]).trim();
  // only the files the extraction reads: headers, the two default-parameter sources, CMakeLists.txt
  const src = join(dir, "src");
  mkdirSync(src);
  const paths = ["include", "ggml/include", "src/llama-context.cpp", "src/llama-model.cpp", "CMakeLists.txt"];
  const tar = execFileSync("git", ["--git-dir", git, "archive", "--format=tar", head, ...paths], {
    maxBuffer: 1 << 28,
  });
  execFileSync("tar", ["-x", "-C", src], { input: tar });
  return { dir, src, head };
}

function compilerFacts(src, structs, defaults) {
  const dir = mkdtempSync(join(tmpdir(), "llama-abi-"));
  const lines = [
    "#include <stdio.h>",
    "#include <stddef.h>",
    '#include "llama.h"',
    "int main(void) {",
    '  printf("{\\"structs\\":{");',
  ];
  STRUCTS.forEach((s, i) => {
    lines.push(
      `  printf("%s\\"${s}\\":{\\"size\\":%zu,\\"offsets\\":{", ${i ? '","' : '""'}, sizeof(struct ${s}));`,
    );
    structs[s].forEach((f, j) => {
      lines.push(`  printf("%s\\"${f.name}\\":%zu", ${j ? '","' : '""'}, offsetof(struct ${s}, ${f.name}));`);
    });
    lines.push('  printf("}}");');
  });
  lines.push('  printf("},\\"defaults\\":{");');
  Object.entries(defaults).forEach(([s, init], i) => {
    lines.push("  {");
    lines.push(`    struct ${s} p = ${init.replace(/\bnullptr\b/g, "NULL")};`);
    lines.push(`    printf("%s\\"${s}\\":{", ${i ? '","' : '""'});`);
    structs[s].forEach((f, j) => {
      const sep = j ? '","' : '""';
      if (f.ctype.includes("*") || /callback$/.test(f.ctype)) {
        lines.push(`    printf("%s\\"${f.name}\\":%s", ${sep}, p.${f.name} ? "\\"non-null\\"" : "null");`);
      } else if (f.ctype === "float" || f.ctype === "double") {
        lines.push(`    printf("%s\\"${f.name}\\":%.9g", ${sep}, (double)p.${f.name});`);
      } else if (f.ctype === "bool") {
        lines.push(`    printf("%s\\"${f.name}\\":%s", ${sep}, p.${f.name} ? "true" : "false");`);
      } else {
        lines.push(`    printf("%s\\"${f.name}\\":%lld", ${sep}, (long long)p.${f.name});`);
      }
    });
    lines.push('    printf("}");');
    lines.push("  }");
  });
  lines.push('  printf("},\\"constants\\":{");');
  CONSTANTS.forEach((c, i) =>
    lines.push(`  printf("%s\\"${c}\\":%lld", ${i ? '","' : '""'}, (long long)(${c}));`),
  );
  lines.push('  printf("},\\"ggml_tensor\\":{\\"name_offset\\":%zu}}", offsetof(struct ggml_tensor, name));');
  lines.push("  return 0;", "}");
  const c = join(dir, "abi.c");
  writeFileSync(c, lines.join("\n") + "\n");
  const exe = join(dir, "abi");
  const cc = process.env.CC || "cc";
  sh(cc, [
    "-std=c11",
    "-Werror=missing-field-initializers",
    "-Wextra",
    "-I",
    join(src, "include"),
    "-I",
    join(src, "ggml/include"),
    c,
    "-o",
    exe,
  ]);
  const facts = JSON.parse(sh(exe, []));
  rmSync(dir, { recursive: true, force: true });
  return facts;
}

async function main() {
  const { dir, src, head } = getSource();
  try {
    const llamaH = readFileSync(join(src, "include/llama.h"), "utf8");
    const headerTexts = ["include/llama.h", "ggml/include/ggml.h", "ggml/include/ggml-backend.h"].map((f) =>
      readFileSync(join(src, f), "utf8"),
    );
    const typedefs = parseTypedefs(headerTexts);
    const structs = Object.fromEntries(STRUCTS.map((s) => [s, parseStruct(llamaH, s)]));
    const functions = {};
    const usedTypedefs = {};
    const opaques = new Set();
    for (const [file, { library, names }] of Object.entries(FUNCTIONS)) {
      const text = readFileSync(join(src, file), "utf8");
      functions[library] = names.map((n) => parsePrototype(text, n));
      for (const proto of functions[library]) {
        for (const word of proto.replace(/\w+\(/, "(").match(/[A-Za-z_]\w*/g) ?? []) {
          if (typedefs.has(word) && !STRUCTS.includes(word)) usedTypedefs[word] = koffiType(word, typedefs);
        }
        for (const m of proto.matchAll(/([A-Za-z_]\w*) \*/g)) {
          if (!PRIMITIVES.has(m[1]) && !typedefs.has(m[1]) && !STRUCTS.includes(m[1])) opaques.add(m[1]);
        }
      }
    }
    const defaults = {
      llama_model_params: parseDefaultsInitializer(
        readFileSync(join(src, "src/llama-model.cpp"), "utf8"),
        "llama_model_params llama_model_default_params",
      ),
      llama_context_params: parseDefaultsInitializer(
        readFileSync(join(src, "src/llama-context.cpp"), "utf8"),
        "llama_context_params llama_context_default_params",
      ),
    };
    const facts = compilerFacts(src, structs, defaults);
    const cmake = readFileSync(join(src, "CMakeLists.txt"), "utf8");
    const ver = (k) => {
      const m = new RegExp(`set\\(LLAMA_VERSION_${k} (\\d+)\\)`).exec(cmake);
      if (!m) throw new Error(`LLAMA_VERSION_${k} not found in CMakeLists.txt`);
      return m[1];
    };
    const base = `${ver("MAJOR")}.${ver("MINOR")}.${ver("PATCH")}`;
    const isDev = /option\(LLAMA_BUILD_IS_DEV "[^"]*" ON\)/.test(cmake);
    const info = JSON.parse(
      readFileSync(join(root, "node_modules/node-llama-cpp/llama/llama.cpp.info.json"), "utf8"),
    );
    const nlcVersion = JSON.parse(
      readFileSync(join(root, "node_modules/node-llama-cpp/package.json"), "utf8"),
    ).version;

    const header = {
      source: { nodeLlamaCpp: nlcVersion, llamaCppTag: info.tag, bundleHead: head },
      llamaVersion: isDev ? `${base}-dev` : base,
      structs: Object.fromEntries(
        STRUCTS.map((s) => [
          s,
          {
            size: facts.structs[s].size,
            fields: structs[s].map((f) => ({
              ...f,
              koffi: koffiType(f.ctype, typedefs),
              offset: facts.structs[s].offsets[f.name],
            })),
          },
        ]),
      ),
      defaults: facts.defaults,
      constants: facts.constants,
      ggmlTensorNameOffset: facts.ggml_tensor.name_offset,
      typedefs: usedTypedefs,
      callbacks: Object.fromEntries(CALLBACKS.map((c) => [c, parseCallback(headerTexts, c)])),
      opaques: [...opaques].sort(),
      functions,
    };
    let text =
      "// GENERATED by scripts/extract-llama-header.mjs from node-llama-cpp's bundled llama.cpp source. Do not edit.\n" +
      "// Layouts and defaults were computed by the C compiler against that source's headers.\n" +
      `export const LLAMA_HEADER = ${JSON.stringify(header, null, 2)} as const;\n`;
    // formatted like the rest of the repository, so `prettier --check` and `--check` here agree
    const prettier = await import("prettier");
    text = await prettier.format(text, { ...(await prettier.resolveConfig(outFile)), filepath: outFile });
    if (checkOnly) {
      const current = existsSync(outFile) ? readFileSync(outFile, "utf8") : "";
      if (current !== text) {
        console.error(`${outFile} is out of date: run node scripts/extract-llama-header.mjs`);
        process.exit(1);
      }
      console.log("llamaHeader.generated.ts is up to date");
    } else {
      mkdirSync(dirname(outFile), { recursive: true });
      writeFileSync(outFile, text);
      console.log(`wrote ${outFile} (${header.llamaVersion})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
