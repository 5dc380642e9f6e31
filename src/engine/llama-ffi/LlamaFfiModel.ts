/** A GGUF model loaded through the koffi binding (`llama_model_load_from_file`). */
import fs from "node:fs";
import { LlamaFfiDisposedError, LlamaFfiInputError, LlamaFfiNativeError } from "./errors.js";
import type { LlamaLibrary } from "./LlamaLibrary.js";
import type { Ptr } from "./llamaAbi.js";

export interface LlamaFfiModelOptions {
  /** Layers to offload to a GPU (needs a GPU build, see LlamaLibrary.load({ gpu: true })). Default 0: CPU only. */
  gpuLayers?: number;
}

export class LlamaFfiModel {
  private handle: Ptr | null;
  private liveContexts = 0;

  private constructor(
    readonly library: LlamaLibrary,
    handle: Ptr,
    /** The GGUF file. */
    readonly path: string,
    /** Width of the hidden state (`llama_model_n_embd`). */
    readonly nEmbd: number,
    /** Rows of the vocabulary (`llama_vocab_n_tokens`): valid token ids are 0 .. nVocab-1. */
    readonly nVocab: number,
    /** Transformer blocks (`llama_model_n_layer`). */
    readonly nLayer: number,
    /** Context length the model was trained with (`llama_model_n_ctx_train`). */
    readonly nCtxTrain: number,
  ) {
    this.handle = handle;
  }

  /** Load a GGUF file. Runs on a worker thread (loading can take seconds). */
  static async load(
    library: LlamaLibrary,
    path: string,
    options: LlamaFfiModelOptions = {},
  ): Promise<LlamaFfiModel> {
    if (!fs.existsSync(path) || !fs.statSync(path).isFile()) {
      throw new LlamaFfiInputError(`model file not found: ${path} (pass the path of a .gguf file)`);
    }
    const gpuLayers = options.gpuLayers ?? 0;
    if (!Number.isInteger(gpuLayers) || gpuLayers < 0) {
      throw new LlamaFfiInputError(`gpuLayers must be a non-negative integer, got ${gpuLayers}`);
    }
    const n = library.native;
    const params = n.llama_model_default_params();
    params.n_gpu_layers = gpuLayers;
    const handle = await new Promise<Ptr | null>((resolve, reject) =>
      n.llama_model_load_from_file.async(path, params, (err, res) =>
        err ? reject(err as Error) : resolve(res),
      ),
    );
    if (!handle) {
      throw new LlamaFfiNativeError(
        `llama.cpp could not load ${path}: not a GGUF file, an architecture this llama.cpp does not know, or missing/extra tensors (see llama.cpp's log)`,
      );
    }
    const vocab = n.llama_model_get_vocab(handle);
    return new LlamaFfiModel(
      library,
      handle,
      path,
      n.llama_model_n_embd(handle),
      n.llama_vocab_n_tokens(vocab),
      n.llama_model_n_layer(handle),
      n.llama_model_n_ctx_train(handle),
    );
  }

  /** The native `llama_model *`; throws after dispose(). */
  get pointer(): Ptr {
    if (this.handle === null) throw new LlamaFfiDisposedError(`model ${this.path} was disposed`);
    return this.handle;
  }

  get disposed(): boolean {
    return this.handle === null;
  }

  /** @internal Called by LlamaFfiContext: a model cannot be freed under a live context. */
  attachContext(delta: 1 | -1): void {
    this.liveContexts += delta;
  }

  /** Free the model. Its contexts must be disposed first. */
  dispose(): void {
    if (this.handle === null) return;
    if (this.liveContexts > 0) {
      throw new LlamaFfiInputError(
        `model ${this.path} still has ${this.liveContexts} live context(s): dispose them first`,
      );
    }
    this.library.native.llama_model_free(this.handle);
    this.handle = null;
  }
}
