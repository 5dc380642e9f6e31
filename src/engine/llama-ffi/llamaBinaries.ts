/**
 * Finding the prebuilt libllama/libggml that node-llama-cpp ships for this platform, through the public entry
 * point of its binary packages (`@node-llama-cpp/<platform>[-variant]` exports `getBinsDir()`).
 */
import fs from "node:fs";
import path from "node:path";

export interface LlamaBinaries {
  /** The npm package the binaries come from, e.g. "@node-llama-cpp/linux-x64". */
  packageName: string;
  /** "cpu", "cuda", "vulkan", "metal". */
  variant: string;
  /** Folder holding the libraries (also where the dlopen'ed ggml backends are). */
  dir: string;
  libllama: string;
  libggml: string;
}

function platformPrefix(): string | null {
  if (process.platform === "linux") return "linux";
  if (process.platform === "darwin") return "mac";
  if (process.platform === "win32") return "win";
  return null;
}

/** Binary packages to try, in order. CPU first unless a GPU is asked for. */
export function candidatePackages(gpu: boolean): { name: string; variant: string }[] {
  const prefix = platformPrefix();
  if (!prefix) return [];
  const base = `@node-llama-cpp/${prefix}-${process.arch}`;
  const cpu = { name: base, variant: "cpu" };
  if (prefix === "mac") {
    return process.arch === "arm64" ? [{ name: `${base}-metal`, variant: "metal" }, cpu] : [cpu];
  }
  if (!gpu) return [cpu];
  return [{ name: `${base}-cuda`, variant: "cuda" }, { name: `${base}-vulkan`, variant: "vulkan" }, cpu];
}

const LIBLLAMA = /^(lib)?llama(\.[\w.]+)?\.(so|dylib|dll)$/;
const LIBGGML = /^(lib)?ggml(\.[\w.]+)?\.(so|dylib|dll)$/;

/** The folder under binsDir that holds libllama and libggml (e.g. bins/linux-x64), if any. */
export function findLibrariesIn(binsDir: string): { dir: string; libllama: string; libggml: string } | null {
  if (!fs.existsSync(binsDir)) return null;
  const dirs = [
    binsDir,
    ...fs
      .readdirSync(binsDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => path.join(binsDir, e.name)),
  ];
  for (const dir of dirs) {
    const files = fs.readdirSync(dir);
    const llama = files.find((f) => LIBLLAMA.test(f));
    const ggml = files.find((f) => LIBGGML.test(f));
    if (llama && ggml) return { dir, libllama: path.join(dir, llama), libggml: path.join(dir, ggml) };
  }
  return null;
}

/** Every installed binary package for this platform that holds usable libraries, in preference order. */
export async function findLlamaBinaries(gpu: boolean): Promise<LlamaBinaries[]> {
  const found: LlamaBinaries[] = [];
  for (const candidate of candidatePackages(gpu)) {
    let binsDir: string;
    try {
      const pkg = (await import(candidate.name)) as { getBinsDir?: () => { binsDir: string } };
      if (typeof pkg.getBinsDir !== "function") continue;
      binsDir = pkg.getBinsDir().binsDir;
    } catch {
      continue; // not installed (optional dependency of node-llama-cpp)
    }
    const libs = findLibrariesIn(binsDir);
    if (libs) found.push({ packageName: candidate.name, variant: candidate.variant, ...libs });
  }
  return found;
}
