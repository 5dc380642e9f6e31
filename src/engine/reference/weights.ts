/**
 * Reading a model folder's weights as float32 for the reference implementation: a single
 * model.safetensors or a sharded checkpoint (model.safetensors.index.json + shards). Every tensor read is
 * checked against the shape the config implies.
 */
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { SafetensorsFile } from "../../model/safetensors.js";
import { Qwen3GuardError } from "../../core/errors.js";

const LITTLE_ENDIAN = os.endianness() === "LE";

export class ReferenceWeightsError extends Qwen3GuardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("REFERENCE_WEIGHTS_INVALID", message, options);
  }
}

/** Where tensors come from: a model folder on disk, or an in-memory map (for tests). */
export interface WeightSource {
  has(name: string): boolean;
  /** The tensor's values as float32; throws if it is absent or its shape differs from `shape`. */
  read(name: string, shape: readonly number[]): Float32Array;
  close(): void;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export class FolderWeights implements WeightSource {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly fileOf = new Map<string, SafetensorsFile>();

  constructor(readonly folder: string) {
    const single = path.join(folder, "model.safetensors");
    const index = path.join(folder, "model.safetensors.index.json");
    if (fs.existsSync(single)) {
      this.addFile(single);
    } else if (fs.existsSync(index)) {
      const map = (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: Record<string, string> })
        .weight_map;
      if (!map) throw new ReferenceWeightsError(`${index}: no weight_map`);
      for (const shard of new Set(Object.values(map))) this.addFile(path.join(folder, shard));
    } else {
      throw new ReferenceWeightsError(
        `${folder}: neither model.safetensors nor model.safetensors.index.json found`,
      );
    }
  }

  private addFile(file: string): void {
    const st = SafetensorsFile.open(file);
    this.files.set(file, st);
    for (const name of st.tensors.keys()) this.fileOf.set(name, st);
  }

  has(name: string): boolean {
    return this.fileOf.has(name);
  }

  read(name: string, shape: readonly number[]): Float32Array {
    const st = this.fileOf.get(name);
    if (!st) throw new ReferenceWeightsError(`${this.folder}: checkpoint has no tensor ${name}`);
    const actual = st.info(name).shape;
    if (!sameShape(actual, shape)) {
      throw new ReferenceWeightsError(
        `${st.filePath}: tensor ${name} has shape [${actual.join(", ")}], config implies [${shape.join(", ")}]`,
      );
    }
    if (st.info(name).dtype === "F32" && LITTLE_ENDIAN) {
      // Fresh buffer at offset 0: view the stored little-endian floats directly.
      const bytes = st.readBytes(name);
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    }
    return st.readFloat32(name);
  }

  close(): void {
    for (const st of this.files.values()) st.close();
  }
}

/** Tensors held in memory (flat, row-major); only their element counts can be checked. */
export class MapWeights implements WeightSource {
  constructor(private readonly tensors: ReadonlyMap<string, Float32Array>) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  read(name: string, shape: readonly number[]): Float32Array {
    const t = this.tensors.get(name);
    if (!t) throw new ReferenceWeightsError(`no tensor ${name}`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (t.length !== count) {
      throw new ReferenceWeightsError(
        `tensor ${name} has ${t.length} values, expected [${shape.join(", ")}]`,
      );
    }
    return t;
  }

  close(): void {}
}
