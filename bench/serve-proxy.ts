/**
 * Proxy benchmark (`npm run bench -- serve`): the moderating proxy (the server of `qwen3guard serve --demo`, in a child
 * process so that its memory is its own) in front of a scripted OpenAI-compatible upstream in this process, against the upstream
 * alone. Measured from the client: the time to the first token and, for every token, the time from the upstream
 * sending it to the client receiving it; the added latency is the proxied figure minus the direct one. Then the
 * server's peak RSS while 50 streams are open at once. The toy models' verdicts mean nothing; their timings are
 * those of the guard's plumbing (the tiny backbone costs almost nothing per token).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { summarize } from "./stats.js";

export interface ServeBenchOptions {
  /** Words the upstream streams per answer. */
  tokens: number;
  /** Pause between two upstream chunks (ms): the generator's rate. */
  intervalMs: number;
  /** Timed requests, direct and through the proxy. */
  requests: number;
  /** Streams open at once for the memory figure. */
  streams: number;
  /** The server's engine threads. */
  threads: number;
}

/** A scripted upstream: one word per chunk every `intervalMs`, recording when it sent each. */
class ScriptedUpstream {
  readonly sent = new Map<string, number[]>();
  private server: http.Server | undefined;
  url = "";

  constructor(
    private readonly words: string[],
    private readonly intervalMs: number,
  ) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    for await (const _ of req) void _;
    const id = String(req.headers["x-request-id"] ?? "");
    const times: number[] = [];
    this.sent.set(id, times);
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (delta: object, finish: string | null = null) =>
      `data: ${JSON.stringify({
        id: "chatcmpl-bench",
        object: "chat.completion.chunk",
        created: 0,
        model: "bench",
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      })}\n\n`;
    res.write(chunk({ role: "assistant", content: "" }));
    for (const word of this.words) {
      await new Promise((r) => setTimeout(r, this.intervalMs));
      if (res.destroyed) return;
      times.push(performance.now());
      res.write(chunk({ content: word }));
    }
    res.write(chunk({}, "stop"));
    res.end("data: [DONE]\n\n");
  }
}

/** Stream one answer; the time each word was complete at the client, and the time to the first content. */
async function timedStream(
  baseUrl: string,
  id: string,
  words: string[],
): Promise<{ start: number; firstToken: number; arrivals: number[]; text: string }> {
  const start = performance.now();
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": id },
    body: JSON.stringify({
      model: "bench",
      messages: [{ role: "user", content: "Tell me a story." }],
      stream: true,
    }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const ends: number[] = [];
  let total = 0;
  for (const w of words) ends.push((total += w.length));
  const arrivals: number[] = [];
  let text = "";
  let firstToken = NaN;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of response.body!) {
    const now = performance.now();
    buffer += decoder.decode(bytes as Uint8Array, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const content = (JSON.parse(event.slice(6)) as { choices: { delta: { content?: string } }[] })
        .choices[0]?.delta.content;
      if (!content) continue;
      if (Number.isNaN(firstToken)) firstToken = now - start;
      text += content;
      while (arrivals.length < ends.length && text.length >= ends[arrivals.length]!) arrivals.push(now);
    }
  }
  return { start, firstToken, arrivals, text };
}

function readStatusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : NaN;
}

/** `qwen3guard serve --demo` as the CLI runs it (the compiled server modules), in a child process. */
async function startServer(upstreamUrl: string, cacheDir: string, sequences: number, threads: number) {
  const server = (file: string) =>
    JSON.stringify(fileURLToPath(new URL(`../src/server/${file}`, import.meta.url)));
  const config = {
    demo: true,
    port: 0,
    upstream: { url: upstreamUrl },
    engine: { sequences, threads, contextSize: 512, gpu: "cpu", cacheDir },
    logLevel: "warn",
  };
  const script = `
    const { parseServerConfig } = await import(${server("config.js")});
    const { loadServerRuntime } = await import(${server("runtime.js")});
    const { createServer } = await import(${server("create-server.js")});
    const runtime = await loadServerRuntime(parseServerConfig(${JSON.stringify(config)}));
    const app = await createServer(runtime, { logger: false });
    await app.listen({ host: "127.0.0.1", port: 0 });
    process.stderr.write("listening on http://127.0.0.1:" + app.server.address().port + "\\n");
    process.once("SIGTERM", async () => { await app.close(); await runtime.close(); process.exit(0); });
  `;
  const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) resolve(`${m[1]}/v1`);
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
  });
  return { child, url };
}

async function promptVerdictMs(serverUrl: string): Promise<number> {
  const text = await (await fetch(serverUrl.replace(/\/v1$/, "/metrics"))).text();
  const get = (name: string) =>
    Number(new RegExp(`^${name}\\{direction="prompt",model="stream"\\} ([0-9.e+-]+)`, "m").exec(text)?.[1]);
  return (get("qwen3guard_guard_latency_seconds_sum") / get("qwen3guard_guard_latency_seconds_count")) * 1000;
}

export async function benchServeProxy(options: ServeBenchOptions) {
  const words = Array.from({ length: options.tokens }, (_, i) => (i === 0 ? "Once" : ` word${i}`));
  const upstream = new ScriptedUpstream(words, options.intervalMs);
  await upstream.start();
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-bench-serve-"));
  const log = (line: string) => process.stderr.write(`bench serve: ${line}\n`);
  log("starting qwen3guard serve --demo");
  const server = await startServer(upstream.url, cacheDir, options.streams, options.threads);
  try {
    const pid = server.child.pid!;
    // warm-up (first decodes allocate buffers)
    for (let i = 0; i < 2; i++) await timedStream(server.url, `warm-${i}`, words);
    const idleRssMiB = readStatusKiB(pid, "VmRSS") / 1024;

    const measure = async (baseUrl: string, tag: string) => {
      const ttft: number[] = [];
      const perToken: number[] = [];
      for (let r = 0; r < options.requests; r++) {
        const id = `${tag}-${r}`;
        const run = await timedStream(baseUrl, id, words);
        if (run.text !== words.join("")) throw new Error(`${tag}: the answer came back altered`);
        ttft.push(run.firstToken);
        const sent = upstream.sent.get(id)!;
        run.arrivals.forEach((t, i) => perToken.push(t - sent[i]!));
      }
      return { ttft: summarize(ttft), perToken: summarize(perToken) };
    };
    log(
      `${options.requests} requests of ${options.tokens} tokens at one per ${options.intervalMs} ms, direct`,
    );
    const direct = await measure(upstream.url, "direct");
    log("the same through the proxy");
    const proxied = await measure(server.url, "proxy");
    const promptMs = await promptVerdictMs(server.url);

    log(`${options.streams} streams open at once`);
    let mostOpen = 0;
    const sampler = setInterval(() => {
      void fetch(server.url.replace(/\/v1$/, "/metrics"))
        .then((r) => r.text())
        .then((t) => {
          const open = Number(/^qwen3guard_stream_sessions_open (\d+)/m.exec(t)?.[1] ?? 0);
          mostOpen = Math.max(mostOpen, open);
        })
        .catch(() => undefined);
    }, 50);
    const runs = await Promise.all(
      Array.from({ length: options.streams }, (_, i) => timedStream(server.url, `load-${i}`, words)),
    );
    clearInterval(sampler);
    if (runs.some((r) => r.text !== words.join(""))) throw new Error("a concurrent stream came back altered");
    const peakRssMiB = readStatusKiB(pid, "VmHWM") / 1024;

    const r1 = (x: number) => Math.round(x * 10) / 10;
    return {
      benchmark: "serve-proxy",
      machine: {
        cpus: os.cpus()[0]?.model ?? "unknown",
        cores: os.availableParallelism(),
        load: os.loadavg()[0],
      },
      models: "--demo toy models (hand-set, 1 layer): the guard's plumbing, not a real model's compute",
      engineThreads: options.threads,
      upstream: { tokens: options.tokens, intervalMs: options.intervalMs },
      timeToFirstTokenMs: {
        direct: direct.ttft,
        proxy: proxied.ttft,
        addedP50: r1(proxied.ttft.p50 - direct.ttft.p50),
        promptVerdictMeanMs: r1(promptMs),
        note: "the first word is complete only when the second chunk arrives (the tokenizer's lookahead: one interval)",
      },
      perTokenLatencyMs: {
        direct: direct.perToken,
        proxy: proxied.perToken,
        addedP50: r1(proxied.perToken.p50 - direct.perToken.p50),
        addedP95: r1(proxied.perToken.p95 - direct.perToken.p95),
      },
      memory: {
        serverIdleRssMiB: r1(idleRssMiB),
        serverPeakRssMiB: r1(peakRssMiB),
        streamsAtOnce: options.streams,
        mostOpenSeen: mostOpen,
      },
    };
  } finally {
    server.child.kill("SIGTERM");
    await new Promise((r) => server.child.once("exit", r));
    await upstream.stop();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}
