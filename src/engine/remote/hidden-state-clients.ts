/**
 * Clients of the engines that return a causal LM's last hidden state (after the final norm) for every input token,
 * the input of Qwen3Guard-Stream's heads:
 *
 * - vLLM: `POST /pooling` with `task: "token_embed"` and `use_activation: false` (no normalisation), the model
 *   served with `--runner pooling` (https://docs.vllm.ai/en/latest/models/pooling_models.html);
 * - llama-server: `POST /embeddings` of a server started with `--embeddings --pooling none`, which answers the
 *   unnormalised embedding of every token (https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md);
 * - qwen3guard: `POST /pooling` (vLLM's shape) of another `qwen3guard serve` with a Stream model, as base64.
 *
 * None of them reuses a cached prefix for these requests: each one recomputes the whole sequence.
 */
import { getJson, postJson, type HttpCallOptions } from "./http-client.js";
import type { PoolClient } from "./backend-pool.js";
import { ShapeReader } from "./json-shape.js";
import { RemoteProtocolError } from "./remote-errors.js";
import type { ResolvedRemoteBackend } from "./remote-options.js";

export interface HiddenStateClient extends PoolClient {
  /** One hidden state per token of `ids` (fed from an empty sequence). */
  hiddenStates(ids: readonly number[], options: HttpCallOptions): Promise<Float32Array[]>;
}

/** Split a flat little-endian float32 buffer into rows of `width`. */
export function rowsFromBase64(base64: string, width: number, backend: string): Float32Array[] {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length % (4 * width) !== 0) {
    throw new RemoteProtocolError(
      backend,
      `a base64 hidden-state block of ${bytes.length} bytes is not a whole number of ${width}-wide float32 rows`,
    );
  }
  const rows: Float32Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.length; at += 4 * width) {
    const row = new Float32Array(width);
    for (let i = 0; i < width; i++) row[i] = view.getFloat32(at + 4 * i, true);
    rows.push(row);
  }
  return rows;
}

/**
 * Hidden states must be the raw ones: an engine that normalised them (an older vLLM that does not know
 * `use_activation`) would feed the heads unit vectors and every score would be wrong.
 */
function checkNotNormalised(rows: readonly Float32Array[], backend: string): void {
  if (rows.length === 0) return;
  const unit = rows.every((r) => {
    let sum = 0;
    for (const x of r) sum += x * x;
    return Math.abs(Math.sqrt(sum) - 1) < 1e-3;
  });
  if (unit && rows[0]!.length > 1) {
    throw new RemoteProtocolError(
      backend,
      "the hidden states came back normalised (every vector has length 1): the engine must return them raw " +
        "(vLLM: a version that takes use_activation: false; llama-server: --pooling none)",
    );
  }
}

function checkRows(
  rows: Float32Array[],
  ids: readonly number[],
  width: number,
  backend: string,
): Float32Array[] {
  if (rows.length !== ids.length) {
    throw new RemoteProtocolError(
      backend,
      `${ids.length} tokens were sent but ${rows.length} hidden states came back (does the engine add tokens, or pool them?)`,
    );
  }
  for (const [i, r] of rows.entries()) {
    if (r.length !== width) {
      throw new RemoteProtocolError(
        backend,
        `hidden state ${i} has ${r.length} values; the Stream heads expect ${width}: is it the same model?`,
      );
    }
  }
  checkNotNormalised(rows, backend);
  return rows;
}

/** vLLM's `/pooling` (token_embed), and another qwen3guard server's. */
export class PoolingClient implements HiddenStateClient {
  constructor(
    readonly backend: ResolvedRemoteBackend,
    private readonly width: number,
  ) {}

  async health(options: HttpCallOptions): Promise<void> {
    await getJson(this.backend, this.backend.kind === "qwen3guard" ? "/readyz" : "/health", options);
  }

  async hiddenStates(ids: readonly number[], options: HttpCallOptions): Promise<Float32Array[]> {
    // base64 (a quarter of the bytes of JSON numbers) from qwen3guard; plain floats from vLLM
    const base64 = this.backend.kind === "qwen3guard";
    const body = {
      ...(this.backend.model !== undefined ? { model: this.backend.model } : {}),
      input: ids,
      task: "token_embed",
      use_activation: false,
      add_special_tokens: false,
      ...(base64 ? { encoding_format: "base64", embed_dtype: "float32", endianness: "little" } : {}),
    };
    const answer = await postJson(this.backend, "/pooling", body, options);
    const r: ShapeReader = new ShapeReader(this.backend.name, "POST /pooling");
    const root = r.object(answer, "(body)");
    const item = r.object(r.array(root.data, "data")[0], "data[0]");
    const data = item.data;
    const rows =
      typeof data === "string"
        ? rowsFromBase64(data, this.width, this.backend.name)
        : r.array(data, "data[0].data").map((row, i) => r.floats(row, `data[0].data[${i}]`));
    return checkRows(rows, ids, this.width, this.backend.name);
  }
}

/** llama-server's `/embeddings` with `--pooling none`. */
export class LlamaServerEmbeddingsClient implements HiddenStateClient {
  constructor(
    readonly backend: ResolvedRemoteBackend,
    private readonly width: number,
  ) {}

  async health(options: HttpCallOptions): Promise<void> {
    await getJson(this.backend, "/health", options);
  }

  async hiddenStates(ids: readonly number[], options: HttpCallOptions): Promise<Float32Array[]> {
    const answer = await postJson(this.backend, "/embeddings", { input: ids }, options);
    const r: ShapeReader = new ShapeReader(this.backend.name, "POST /embeddings");
    const list = r.array(answer, "(body)");
    const item = r.object(list[0], "[0]");
    const embedding = r.array(item.embedding, "[0].embedding");
    if (embedding.length > 0 && typeof embedding[0] === "number") {
      throw new RemoteProtocolError(
        this.backend.name,
        "POST /embeddings answered one pooled vector, not one per token: start llama-server with --pooling none",
      );
    }
    const rows = embedding.map((row, i) => r.floats(row, `[0].embedding[${i}]`));
    return checkRows(rows, ids, this.width, this.backend.name);
  }
}

/** The client for a backend's kind; undefined for kinds that serve no hidden states. */
export function hiddenStateClientFor(
  backend: ResolvedRemoteBackend,
  width: number,
): HiddenStateClient | undefined {
  switch (backend.kind) {
    case "vllm":
    case "qwen3guard":
      return new PoolingClient(backend, width);
    case "llama-server":
      return new LlamaServerEmbeddingsClient(backend, width);
    default:
      return undefined;
  }
}
