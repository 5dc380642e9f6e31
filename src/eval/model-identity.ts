/**
 * What model a run used, precisely enough to tell two runs apart: the path, and the size and modification time
 * of its files (or their SHA-256 when asked), and whether it is synthetic.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export interface ModelFileIdentity {
  name: string;
  bytes: number;
  mtimeMs: number;
  sha256?: string;
}

export interface ModelIdentity {
  /** `--model` as given. */
  spec: string;
  /** Absolute path, when the spec is a path on this machine (a hub name is recorded as given). */
  path?: string;
  /** The files that make the model (a GGUF; or config.json, weights and tokenizer of a folder). */
  files: ModelFileIdentity[];
  /** How the weights were made when the model is synthetic (`random`, `hand-set`): its verdicts mean nothing. */
  synthetic?: string;
}

const MODEL_FILES = /^(config\.json|tokenizer\.json|tokenizer_config\.json|.*\.safetensors|.*\.gguf)$/;

function sha256(file: string): string {
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 22);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}

export function modelIdentity(
  spec: string,
  options: { synthetic?: string; hash?: boolean } = {},
): ModelIdentity {
  const abs = path.resolve(spec);
  const files: ModelFileIdentity[] = [];
  const add = (file: string, name: string) => {
    const st = fs.statSync(file);
    files.push({
      name,
      bytes: st.size,
      mtimeMs: Math.round(st.mtimeMs),
      ...(options.hash ? { sha256: sha256(file) } : {}),
    });
  };
  let exists = false;
  if (fs.existsSync(abs)) {
    exists = true;
    if (fs.statSync(abs).isDirectory()) {
      for (const name of fs.readdirSync(abs).sort()) {
        if (MODEL_FILES.test(name) && fs.statSync(path.join(abs, name)).isFile())
          add(path.join(abs, name), name);
      }
    } else {
      add(abs, path.basename(abs));
    }
  }
  return {
    spec,
    ...(exists ? { path: abs } : {}),
    files,
    ...(options.synthetic ? { synthetic: options.synthetic } : {}),
  };
}

/** Whether two identities name the same model files (path, sizes, times, hashes when both have them). */
export function sameModel(a: ModelIdentity, b: ModelIdentity): boolean {
  if ((a.path ?? a.spec) !== (b.path ?? b.spec) || a.files.length !== b.files.length) return false;
  return a.files.every((f, i) => {
    const g = b.files[i]!;
    if (f.name !== g.name || f.bytes !== g.bytes) return false;
    if (f.sha256 && g.sha256) return f.sha256 === g.sha256;
    return f.mtimeMs === g.mtimeMs;
  });
}
