/**
 * Convert a Hugging Face Qwen3 / Qwen3Guard model folder (config.json, safetensors weights, tokenizer.json,
 * tokenizer_config.json) into a GGUF file that llama.cpp loads as architecture `qwen3`.
 *
 * Streaming: the header is computed from config.json's shapes first, then each tensor is read in row chunks,
 * converted (F32 / F16 / Q8_0) and appended; memory stays at a few chunks whatever the model size. The output
 * is written to a temporary file beside `outFile` and renamed into place only once complete and fsynced.
 * Tensors the GGUF must not contain (Qwen3Guard-Stream heads, anything else unknown) are skipped and reported.
 *
 * Besides what llama.cpp reads, the file records (llama.cpp ignores unknown metadata keys, not unknown tensors):
 * `qwen3guard.kind` (gen | stream-backbone | qwen3, see model-kind.ts), `qwen3guard.converter_version`,
 * `qwen3guard.source_model` (the hub repository, for a folder of the hub cache), `qwen3guard.synthetic` (for
 * synthetic checkpoints) and, last, `qwen3guard.sha256` (the file's own digest, see gguf/gguf-integrity.ts).
 * An interrupted conversion (an error, SIGINT, SIGTERM) leaves no file: see src/model/temp-files.ts.
 */
import path from "node:path";
import { loadHfConfig, type Qwen3Config } from "../hf-config.js";
import { GgmlType, ggmlTypeName } from "../gguf/ggml-types.js";
import { gguf } from "../gguf/gguf-value.js";
import { writeGguf, type GgufTensorToWrite } from "../gguf/gguf-writer.js";
import { encodeF16, encodeF32, quantizeQ8_0 } from "../gguf/quantize.js";
import { ConvertError } from "./convert-error.js";
import { HfCheckpoint } from "./hf-checkpoint.js";
import { GGUF_DIGEST_KEY } from "../gguf/gguf-integrity.js";
import {
  CONVERTER_VERSION_GGUF_KEY,
  MODEL_KIND_GGUF_KEY,
  SOURCE_MODEL_GGUF_KEY,
  folderKind,
  recordedKindOf,
  type RecordedModelKind,
} from "../model-kind.js";
import { SYNTHETIC_GGUF_KEY, syntheticMarkerOf } from "../synthetic-marker.js";
import { removeStalePartials } from "../temp-files.js";
import { readHfTokenizerMetadata } from "./hf-tokenizer-metadata.js";
import { buildQwen3Metadata, hubRepoFromDir, modelNameFromDir } from "./qwen3-gguf-metadata.js";
import {
  GGUF_OUTPUT_TYPES,
  planQwen3Tensors,
  type GgufOutputType,
  type PlannedTensor,
} from "./qwen3-tensor-plan.js";

/**
 * Bump when the converter's output for the same inputs changes: old cache entries are then not reused.
 * 2: records qwen3guard.kind, qwen3guard.converter_version, qwen3guard.source_model and qwen3guard.sha256.
 */
export const CONVERTER_VERSION = "2";

export interface ConvertProgress {
  /** GGUF name of the tensor being written. */
  tensorName: string;
  /** 1-based index of that tensor, and the number of tensors. */
  tensorIndex: number;
  tensorCount: number;
  /** Bytes of tensor data written so far, and in all. */
  bytesWritten: number;
  bytesTotal: number;
}

export interface ConvertOptions {
  modelDir: string;
  outFile: string;
  /** Output type (default q8_0). */
  type?: GgufOutputType;
  /** `general.name` (default: the model's folder / repository name). */
  name?: string;
  /** Called as data is written; throwing from it aborts the conversion and leaves no file behind. */
  onProgress?: (progress: ConvertProgress) => void;
}

export interface ConvertResult {
  outFile: string;
  type: GgufOutputType;
  /** GGUF tensor name → ggml type name (e.g. "Q8_0"). */
  tensorTypes: Record<string, string>;
  /** Checkpoint tensors left out of the GGUF (e.g. Qwen3Guard-Stream heads). */
  skippedTensors: string[];
  /** The kind recorded under `qwen3guard.kind`. */
  kind: RecordedModelKind;
  bytesTotal: number;
}

function checkShapes(
  plan: readonly PlannedTensor[],
  ckpt: HfCheckpoint,
  config: Qwen3Config,
  modelDir: string,
): void {
  for (const t of plan) {
    if (!ckpt.has(t.hfName)) {
      const hint =
        t.hfName === "lm_head.weight"
          ? " (config.json says tie_word_embeddings is false, so lm_head.weight must exist)"
          : "";
      throw new ConvertError(`${modelDir}: the weights lack ${t.hfName}${hint}; is the download complete?`);
    }
    const shape = ckpt.info(t.hfName).shape;
    if (shape.length !== t.hfShape.length || shape.some((d, i) => d !== t.hfShape[i])) {
      throw new ConvertError(
        `${modelDir}: ${t.hfName} has shape [${shape.join(", ")}] but config.json implies [${t.hfShape.join(", ")}] ` +
          `(hidden ${config.hiddenSize}, heads ${config.numAttentionHeads}/${config.numKeyValueHeads}, ` +
          `head_dim ${config.headDim}, ffn ${config.intermediateSize}, vocab ${config.vocabSize}): weights and config do not match`,
      );
    }
  }
}

async function* encodeTensor(ckpt: HfCheckpoint, t: PlannedTensor): AsyncGenerator<Uint8Array> {
  for await (const values of ckpt.readRows(t.hfName)) {
    if (t.type === GgmlType.F32) yield encodeF32(values);
    else if (t.type === GgmlType.F16) yield encodeF16(values);
    else if (t.type === GgmlType.Q8_0) yield quantizeQ8_0(values);
    else throw new ConvertError(`internal: no encoder for ${ggmlTypeName(t.type)}`);
  }
}

/** Convert `modelDir` to a GGUF at `outFile` (atomically). */
export async function convertHfToGguf(options: ConvertOptions): Promise<ConvertResult> {
  const { modelDir, outFile, onProgress } = options;
  const type = options.type ?? "q8_0";
  if (!GGUF_OUTPUT_TYPES.includes(type)) {
    throw new ConvertError(
      `unknown output type "${String(type)}": use one of ${GGUF_OUTPUT_TYPES.join(", ")}`,
    );
  }
  const config = loadHfConfig(modelDir);
  const tokenizer = readHfTokenizerMetadata(modelDir, config.vocabSize, config.raw);
  const ckpt = HfCheckpoint.open(modelDir);
  try {
    // A Qwen3Guard-Stream checkpoint has no LM head of its own (only the guard heads): when it is untied and
    // stores none, write no `output.weight` — llama.cpp's qwen3 loader then reuses token_embd, and the Stream
    // runtime reads hidden states only.
    const plan = planQwen3Tensors(config, type).filter(
      (t) => !(config.guard && t.hfName === "lm_head.weight" && !ckpt.has(t.hfName)),
    );
    checkShapes(plan, ckpt, config, modelDir);
    const used = new Set(plan.map((t) => t.hfName));
    if (config.tieWordEmbeddings) used.add("lm_head.weight"); // some tied checkpoints still store a copy
    const skippedTensors = ckpt
      .names()
      .filter((n) => !used.has(n))
      .sort();

    const metadata = buildQwen3Metadata(config, tokenizer, type, options.name ?? modelNameFromDir(modelDir));
    const synthetic = syntheticMarkerOf(config.raw);
    if (synthetic !== undefined) metadata.set(SYNTHETIC_GGUF_KEY, gguf.str(synthetic));
    const kind = recordedKindOf(folderKind([config.architecture], tokenizer.chatTemplate).kind)!;
    metadata.set(MODEL_KIND_GGUF_KEY, gguf.str(kind));
    metadata.set(CONVERTER_VERSION_GGUF_KEY, gguf.str(CONVERTER_VERSION));
    const hubRepo = hubRepoFromDir(modelDir);
    if (hubRepo !== undefined) metadata.set(SOURCE_MODEL_GGUF_KEY, gguf.str(hubRepo));
    const tensors: GgufTensorToWrite[] = plan.map((t) => ({
      name: t.ggufName,
      ne: t.ne,
      type: t.type,
      data: () => encodeTensor(ckpt, t),
    }));
    const indexByName = new Map(plan.map((t, i) => [t.ggufName, i + 1]));
    let bytesTotal = 0;
    // Temporary files a killed earlier process left beside the output.
    removeStalePartials(path.dirname(path.resolve(outFile)));
    await writeGguf(outFile, metadata, tensors, {
      digestKey: GGUF_DIGEST_KEY,
      onProgress: (written, total, tensorName) => {
        bytesTotal = total;
        onProgress?.({
          tensorName,
          tensorIndex: indexByName.get(tensorName) ?? 0,
          tensorCount: plan.length,
          bytesWritten: written,
          bytesTotal: total,
        });
      },
    });
    return {
      outFile,
      type,
      tensorTypes: Object.fromEntries(plan.map((t) => [t.ggufName, ggmlTypeName(t.type)])),
      skippedTensors,
      kind,
      bytesTotal,
    };
  } finally {
    await ckpt.close();
  }
}
