/**
 * koffi declarations of the llama.cpp C API, built from the generated header description
 * (llamaHeader.generated.ts, produced by scripts/extract-llama-header.mjs from the very source node-llama-cpp's
 * binaries were built from). Nothing about the ABI is written by hand here: struct fields, typedefs and
 * prototypes all come from that file; this module only gives them TypeScript types.
 */
import koffi, { type LibraryHandle, type TypeObject } from "koffi";
import { LLAMA_HEADER } from "./llamaHeader.generated.js";

/** A native pointer (koffi 3 represents pointers as BigInt); 0n or null is NULL. */
export type Ptr = bigint;

export interface LlamaBatchStruct {
  n_tokens: number;
  token: Ptr | null;
  embd: Ptr | null;
  pos: Ptr | null;
  n_seq_id: Ptr | null;
  seq_id: Ptr | null;
  logits: Ptr | null;
}

/** The params structs as JS objects: field name -> number | boolean | pointer. */
export type ParamsStruct = Record<string, number | boolean | Ptr | null>;

type Async<A extends unknown[], R> = ((...args: A) => R) & {
  async: (...args: [...A, (err: unknown, result: R) => void]) => void;
};

/** The functions of libllama/libggml the binding uses (names and C signatures from llama.h / ggml-backend.h). */
export interface LlamaNative {
  llama_version: () => string;
  llama_model_default_params: () => ParamsStruct;
  llama_context_default_params: () => ParamsStruct;
  llama_backend_init: () => void;
  llama_log_set: (callback: Ptr | null, userData: Ptr | null) => void;
  llama_supports_gpu_offload: () => boolean;
  llama_model_load_from_file: Async<[path: string, params: ParamsStruct], Ptr | null>;
  llama_model_free: (model: Ptr) => void;
  llama_init_from_model: Async<[model: Ptr, params: ParamsStruct], Ptr | null>;
  llama_free: (ctx: Ptr) => void;
  llama_n_ctx_seq: (ctx: Ptr) => number;
  llama_model_get_vocab: (model: Ptr) => Ptr;
  llama_vocab_n_tokens: (vocab: Ptr) => number;
  llama_model_n_embd: (model: Ptr) => number;
  llama_model_n_layer: (model: Ptr) => number;
  llama_model_n_ctx_train: (model: Ptr) => number;
  llama_n_ctx: (ctx: Ptr) => number;
  llama_n_batch: (ctx: Ptr) => number;
  llama_n_ubatch: (ctx: Ptr) => number;
  llama_n_seq_max: (ctx: Ptr) => number;
  llama_get_memory: (ctx: Ptr) => Ptr;
  llama_memory_clear: (mem: Ptr, data: boolean) => void;
  llama_memory_seq_rm: (mem: Ptr, seq: number, p0: number, p1: number) => boolean;
  llama_memory_seq_cp: (mem: Ptr, src: number, dst: number, p0: number, p1: number) => void;
  llama_memory_seq_pos_min: (mem: Ptr, seq: number) => number;
  llama_memory_seq_pos_max: (mem: Ptr, seq: number) => number;
  llama_batch_init: (nTokens: number, embd: number, nSeqMax: number) => LlamaBatchStruct;
  llama_batch_free: (batch: LlamaBatchStruct) => void;
  llama_decode: Async<[ctx: Ptr, batch: LlamaBatchStruct], number>;
  llama_synchronize: (ctx: Ptr) => void;
  llama_get_logits_ith: (ctx: Ptr, i: number) => Ptr | null;
  llama_get_embeddings_ith: (ctx: Ptr, i: number) => Ptr | null;
  ggml_backend_load_all_from_path: (dir: string) => void;
  ggml_backend_reg_count: () => number | bigint;
  ggml_backend_dev_count: () => number | bigint;
  ggml_backend_dev_get: (index: number) => Ptr | null;
  ggml_backend_dev_name: (dev: Ptr) => string;
  ggml_backend_dev_type: (dev: Ptr) => number;
}

export type StructName = keyof typeof LLAMA_HEADER.structs;

let typesDeclared = false;

/** koffi's type registry is process-wide: declare the header's types once. */
function declareTypes(): void {
  if (typesDeclared) return;
  for (const name of LLAMA_HEADER.opaques) koffi.opaque(name);
  for (const [name, spec] of Object.entries(LLAMA_HEADER.typedefs)) koffi.alias(name, spec);
  for (const [name, s] of Object.entries(LLAMA_HEADER.structs)) {
    koffi.struct(name, Object.fromEntries(s.fields.map((f) => [f.name, f.koffi])));
  }
  typesDeclared = true;
}

/** Differences between koffi's struct layouts and the C compiler's (empty when they agree). */
export function layoutMismatches(): string[] {
  declareTypes();
  const problems: string[] = [];
  for (const [name, s] of Object.entries(LLAMA_HEADER.structs)) {
    const size = koffi.sizeof(name);
    if (size !== s.size) problems.push(`sizeof(${name}) is ${size} in koffi, ${s.size} in C`);
    for (const f of s.fields) {
      const off = koffi.offsetof(name, f.name);
      if (off !== f.offset)
        problems.push(`offsetof(${name}, ${f.name}) is ${off} in koffi, ${f.offset} in C`);
    }
  }
  return problems;
}

/** koffi.sizeof of one of the header's structs. */
export function structSize(name: StructName): number {
  declareTypes();
  return koffi.sizeof(name);
}

/** Declare every function of the header description against the two loaded libraries. */
export function declareFunctions(libllama: LibraryHandle, libggml: LibraryHandle): LlamaNative {
  declareTypes();
  const table: Record<string, unknown> = {};
  const add = (lib: LibraryHandle, protos: readonly string[]) => {
    for (const proto of protos) {
      const fn = lib.func(proto);
      table[fn.info.name] = fn;
    }
  };
  add(libllama, LLAMA_HEADER.functions.llama);
  add(libggml, LLAMA_HEADER.functions.ggml);
  return table as unknown as LlamaNative;
}

export type CallbackName = keyof typeof LLAMA_HEADER.callbacks;

const protos = new Map<CallbackName, TypeObject>();

/** A pointer-to-function type for one of the header's callback typedefs, for koffi.register(). */
export function callbackType(name: CallbackName): TypeObject {
  declareTypes();
  let p = protos.get(name);
  if (!p) {
    // the typedef name itself is already an alias of `void *` (for struct fields and parameters)
    p = koffi.pointer(koffi.proto(LLAMA_HEADER.callbacks[name].replace(` ${name}(`, ` ${name}_fn(`)));
    protos.set(name, p);
  }
  return p;
}
