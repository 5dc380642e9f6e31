/**
 * The safetensors weights of a Hugging Face model folder: a single `model.safetensors`, or shards listed in
 * `model.safetensors.index.json` (`weight_map`: tensor name → shard file). Tensors are read in row chunks
 * straight from the files, so converting a large model needs memory for one chunk, not one model or tensor.
 */
import fs from "node:fs";
import path from "node:path";
import { decodeToFloat32, SafetensorsFile, type TensorInfo } from "../safetensors.js";
import { ConvertError } from "./convert-error.js";

export const SINGLE_FILE = "model.safetensors";
export const INDEX_FILE = "model.safetensors.index.json";

const BYTES: Record<TensorInfo["dtype"], number> = { F32: 4, F16: 2, BF16: 2 };

/** The weight files of a model folder (absolute paths), plus the index file when sharded. */
export function listWeightFiles(modelDir: string): { weights: string[]; index: string | undefined } {
  const single = path.join(modelDir, SINGLE_FILE);
  const indexPath = path.join(modelDir, INDEX_FILE);
  if (fs.existsSync(indexPath)) {
    let weightMap: Record<string, string>;
    try {
      const json = JSON.parse(fs.readFileSync(indexPath, "utf8")) as { weight_map?: Record<string, string> };
      if (!json.weight_map || typeof json.weight_map !== "object") throw new Error("no weight_map object");
      weightMap = json.weight_map;
    } catch (error) {
      throw new ConvertError(`${indexPath} is not a valid safetensors index (${(error as Error).message})`);
    }
    const shards = [...new Set(Object.values(weightMap))].sort();
    const weights = shards.map((s) => {
      if (path.isAbsolute(s) || s.includes(".."))
        throw new ConvertError(`${indexPath}: suspicious shard name ${s}`);
      const p = path.join(modelDir, s);
      if (!fs.existsSync(p))
        throw new ConvertError(`${indexPath} lists ${s}, which is missing: download every shard`);
      return p;
    });
    return { weights, index: indexPath };
  }
  if (fs.existsSync(single)) return { weights: [single], index: undefined };
  throw new ConvertError(
    `${modelDir} holds neither ${SINGLE_FILE} nor ${INDEX_FILE}: pass a Hugging Face model folder with safetensors weights`,
  );
}

/** The tensors of every weight file of a folder, opened lazily. Call `close()` when done. */
export class HfCheckpoint {
  private handles = new Map<string, fs.promises.FileHandle>();

  private constructor(
    private readonly files: SafetensorsFile[],
    private readonly owner: Map<string, SafetensorsFile>,
  ) {}

  static open(modelDir: string): HfCheckpoint {
    const { weights } = listWeightFiles(modelDir);
    const files: SafetensorsFile[] = [];
    const owner = new Map<string, SafetensorsFile>();
    try {
      for (const w of weights) {
        const f = SafetensorsFile.open(w);
        files.push(f);
        for (const name of f.tensors.keys()) {
          if (owner.has(name)) throw new ConvertError(`tensor ${name} appears in two weight files (${w})`);
          owner.set(name, f);
        }
      }
    } catch (error) {
      for (const f of files) f.close();
      throw error;
    }
    return new HfCheckpoint(files, owner);
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    const f = this.owner.get(name);
    if (!f) throw new ConvertError(`the checkpoint has no tensor ${name}`);
    return f.info(name);
  }

  private async handle(name: string): Promise<fs.promises.FileHandle> {
    const file = this.owner.get(name)!.filePath;
    let h = this.handles.get(file);
    if (!h) {
      h = await fs.promises.open(file, "r");
      this.handles.set(file, h);
    }
    return h;
  }

  /**
   * The tensor's values as float32, in chunks of whole rows (a row = the innermost dimension), about
   * `chunkValues` values per chunk.
   */
  async *readRows(name: string, chunkValues = 1 << 21): AsyncGenerator<Float32Array> {
    const info = this.info(name);
    const handle = await this.handle(name);
    const rowLen = info.shape[info.shape.length - 1] ?? 1;
    const bpv = BYTES[info.dtype];
    const total = info.byteLength / bpv;
    const rowsPerChunk = Math.max(1, Math.floor(chunkValues / rowLen));
    for (let start = 0; start < total; start += rowsPerChunk * rowLen) {
      const count = Math.min(rowsPerChunk * rowLen, total - start);
      const bytes = new Uint8Array(count * bpv);
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesRead } = await handle.read(
          bytes,
          done,
          bytes.byteLength - done,
          info.offset + start * bpv + done,
        );
        if (bytesRead <= 0)
          throw new ConvertError(`${this.owner.get(name)!.filePath}: truncated while reading ${name}`);
        done += bytesRead;
      }
      yield decodeToFloat32(bytes, info.dtype);
    }
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) await h.close().catch(() => undefined);
    this.handles.clear();
    for (const f of this.files) f.close();
  }
}
