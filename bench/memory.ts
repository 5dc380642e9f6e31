/**
 * Where a benchmark's memory goes: resident memory sampled from /proc/self/status while it runs (the peak comes
 * from getrusage), the GGUF's resident pages from /proc/self/smaps, and the buffers llama.cpp allocates from its
 * own log lines (the guard is loaded with `logLevel: "info"` and `logger: memory.logger`). Linux only for the
 * /proc figures; elsewhere they are null and only the peak and the llama.cpp buffers are reported.
 */
import fs from "node:fs";

const MiB = 1024 * 1024;

/** One reading of the process's memory (bytes). */
export interface MemorySample {
  rssBytes: number;
  /** Anonymous resident memory: the JS heap, malloc'ed buffers (KV cache, compute and output buffers), stacks. */
  rssAnonBytes: number | null;
  /** File-backed resident memory: the mmap'ed GGUF, the node binary, shared libraries. */
  rssFileBytes: number | null;
  /** V8's heap as committed (`process.memoryUsage().heapTotal`) and in use. */
  heapTotalBytes: number;
  heapUsedBytes: number;
  /**
   * V8's `external` memory: ArrayBuffers and Buffers, plus whatever else V8 is told about, koffi's views of native
   * memory included (the logits rows read in place), which hold no memory of their own.
   */
  externalBytes: number;
  /** The memory of ArrayBuffers and Buffers (`arrayBuffers`): the JS side's own native allocations. */
  arrayBuffersBytes: number;
}

/** The llama.cpp buffers read from its log (bytes; summed over devices). */
export interface LlamaBuffers {
  /** `load_tensors: <buffer type> model buffer size`, by buffer type (CPU_Mapped: the mmap'ed GGUF; CPU_REPACK...). */
  model: Record<string, number>;
  kvCacheBytes: number | null;
  computeBytes: number | null;
  /** The output buffer as first reserved (it grows with the outputs of a decode: see outputBufferBytes). */
  outputInitialBytes: number | null;
  /** `n_outputs_max` of the context: the most rows a decode may ask for. */
  nOutputsMax: number | null;
}

function statusKiB(field: string, status: string): number | null {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

function readStatus(): string {
  try {
    return fs.readFileSync("/proc/self/status", "utf8");
  } catch {
    return "";
  }
}

export function sampleMemory(): MemorySample {
  const status = readStatus();
  const m = process.memoryUsage();
  return {
    rssBytes: statusKiB("VmRSS", status) ?? m.rss,
    rssAnonBytes: statusKiB("RssAnon", status),
    rssFileBytes: statusKiB("RssFile", status),
    heapTotalBytes: m.heapTotal,
    heapUsedBytes: m.heapUsed,
    externalBytes: m.external,
    arrayBuffersBytes: m.arrayBuffers,
  };
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Resident bytes of the mappings of `file` (/proc/self/smaps), or null when it cannot be read. */
export function residentBytesOfFile(file: string): number | null {
  let smaps: string;
  try {
    smaps = fs.readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return null;
  }
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    real = file;
  }
  let inFile = false;
  let total = 0;
  for (const line of smaps.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      inFile = header[1] === real;
      continue;
    }
    if (inFile) {
      const rss = /^Rss:\s+(\d+) kB/.exec(line);
      if (rss) total += Number(rss[1]) * 1024;
    }
  }
  return total;
}

/**
 * Samples memory every `intervalMs` while a benchmark runs (timers fire while llama.cpp decodes on a worker
 * thread), keeps the sample with the highest RSS, and collects llama.cpp's buffer sizes from its log.
 */
export class MemoryMonitor {
  private readonly timer: NodeJS.Timeout;
  private highest: MemorySample;
  private heapTotalPeak = 0;
  private readonly phases: ({ phase: string; peakRssBytes: number } & MemorySample)[] = [];
  private readonly buffers: LlamaBuffers = {
    model: {},
    kvCacheBytes: null,
    computeBytes: null,
    outputInitialBytes: null,
    nOutputsMax: null,
  };

  constructor(intervalMs = 20) {
    this.highest = sampleMemory();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** Pass as the guard's `logger` (with `logLevel: "info"`): keeps buffer sizes, prints errors to stderr. */
  readonly logger = (level: string, message: string): void => {
    if (level === "error") process.stderr.write(`llama.cpp: ${message}\n`);
    const size = /(\S+)\s+(model|KV|compute|output) buffer size\s*=\s*([\d.]+) MiB/.exec(message);
    if (size) {
      const bytes = Math.round(Number(size[3]) * MiB);
      const b = this.buffers;
      switch (size[2]) {
        case "model":
          b.model[size[1]!] = (b.model[size[1]!] ?? 0) + bytes;
          break;
        case "KV":
          b.kvCacheBytes = (b.kvCacheBytes ?? 0) + bytes;
          break;
        case "compute":
          b.computeBytes = (b.computeBytes ?? 0) + bytes;
          break;
        case "output":
          b.outputInitialBytes = (b.outputInitialBytes ?? 0) + bytes;
          break;
      }
    }
    const outputs = /n_outputs_max\s*=\s*(\d+)/.exec(message);
    if (outputs) this.buffers.nOutputsMax = Number(outputs[1]);
  };

  private sample(): MemorySample {
    const s = sampleMemory();
    if (s.rssBytes >= this.highest.rssBytes) this.highest = s;
    this.heapTotalPeak = Math.max(this.heapTotalPeak, s.heapTotalBytes);
    return s;
  }

  /** Record the memory at the end of a phase of the benchmark (and the peak reached so far). */
  phase(name: string): void {
    this.phases.push({ phase: name, peakRssBytes: peakRssBytes(), ...this.sample() });
  }

  get llamaBuffers(): LlamaBuffers {
    return this.buffers;
  }

  /**
   * The JSON report. `outputRows`: the most outputs (logits rows) one llama_decode of the benchmark asks for;
   * llama.cpp's output buffer holds that many rows of `nVocab` floats (plus `nEmbd` floats in an embeddings context),
   * cleared, hence resident, and never shrunk.
   */
  report(options: {
    budgetBytes: number;
    modelFile: string;
    modelFileBytes: number;
    /** Fallback when the log gave no KV size (node-llama-cpp's engine). */
    kvCacheBytes: number;
    outputRows: number;
    nVocab: number;
    nEmbd: number;
    embeddings: boolean;
  }) {
    clearInterval(this.timer);
    this.sample();
    const peak = peakRssBytes();
    const at = this.highest;
    const b = this.buffers;
    const modelMapped = residentBytesOfFile(options.modelFile);
    const kv = b.kvCacheBytes ?? options.kvCacheBytes;
    const compute = b.computeBytes ?? 0;
    const rows = b.nOutputsMax === null ? options.outputRows : Math.min(b.nOutputsMax, options.outputRows);
    const output = Math.max(
      b.outputInitialBytes ?? 0,
      rows * (options.nVocab + (options.embeddings ? options.nEmbd : 0)) * 4,
    );
    const otherFile =
      at.rssFileBytes === null || modelMapped === null ? null : Math.max(0, at.rssFileBytes - modelMapped);
    const heap = at.heapTotalBytes;
    const buffers = at.arrayBuffersBytes;
    // Weights llama.cpp copies out of the mapping into buffers of their own (CPU_REPACK, AMX...), for the types and
    // CPUs its backend repacks: none for Q8_0 on the machines measured so far (every tensor CPU_Mapped).
    const extraWeights = Object.entries(b.model)
      .filter(([type]) => type !== "CPU_Mapped")
      .reduce((sum, [, bytes]) => sum + bytes, 0);
    const known =
      (modelMapped ?? 0) + (otherFile ?? 0) + extraWeights + kv + compute + output + heap + buffers;
    return {
      peakRssBytes: peak,
      budgetBytes: options.budgetBytes,
      marginBytes: options.budgetBytes - peak,
      withinBudget: peak <= options.budgetBytes,
      /**
       * The peak, component by component (bytes). Resident pages only count once touched: the KV cache is
       * reserved in full but zero-filled, so it is resident from the start.
       */
      breakdown: {
        modelFileBytes: options.modelFileBytes,
        /** Resident pages of the mmap'ed GGUF (file-backed; llama.cpp maps it with MAP_POPULATE). */
        modelMappedBytes: modelMapped,
        /** Other file-backed pages: the node binary, libllama/libggml, koffi, libstdc++. */
        otherFileBytes: otherFile,
        /** Weights copied out of the mapping (llama.cpp's CPU_REPACK or AMX buffers); 0 when every tensor is mapped. */
        extraWeightBuffersBytes: extraWeights,
        kvCacheBytes: kv,
        computeBuffersBytes: compute,
        /** llama.cpp's output buffer: `outputRows` rows (at most n_outputs_max) of logits (and hidden states). */
        outputBufferBytes: output,
        outputRows: rows,
        /** V8's heap as committed at the sampled peak, and its highest over the run. */
        jsHeapBytes: heap,
        jsHeapPeakBytes: Math.max(this.heapTotalPeak, heap),
        /**
         * ArrayBuffers and Buffers (the tokenizer's tables...). Not V8's `external`, which also counts koffi's
         * views of llama.cpp's buffers (no memory of their own): see atSampledPeak.externalBytes.
         */
        jsBuffersBytes: buffers,
        /**
         * The rest of the peak: llama.cpp's own copy of the vocabulary and merges and ggml's tensor metadata (loading
         * the 0.6B GGUF, before any context, adds ~47 MiB of anonymous memory), malloc's arenas, thread stacks, V8's
         * code and other native memory.
         */
        nativeOtherBytes: Math.max(0, peak - known),
      },
      /** The sample with the highest RSS (taken every 20 ms, so within a few MiB of the peak). */
      atSampledPeak: at,
      llamaCppBuffers: b,
      /** Memory at the end of each phase; `peakRssBytes` shows which phase raised the peak. */
      phases: this.phases,
    };
  }
}
