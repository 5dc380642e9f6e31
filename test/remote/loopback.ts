/**
 * Our own server on loopback as a remote engine (kind "qwen3guard" or "vllm": it speaks vLLM's completions and
 * pooling APIs), and a fault-injecting HTTP proxy to put in front of it. Both are real HTTP servers: the remote
 * tests run end to end against the engine this project ships, with no fake in the path unless a test injects a
 * fault on purpose.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { parseServerConfig } from "../../src/server/config.js";
import { createServer } from "../../src/server/create-server.js";
import { loadServerRuntime, type ServerRuntime } from "../../src/server/runtime.js";

/** The engine settings both the served model and the embedded guards of a comparison use. */
export const ENGINE = {
  gpu: "cpu",
  contextSize: 1024,
  sequences: 2,
  kvCache: "f32",
  quantization: "f32",
  threads: 1,
  // on CPU flash attention computes in F16: off, so the two sides agree to float32 rounding
  flashAttention: "off",
} as const;

export interface EngineServer {
  runtime: ServerRuntime;
  app: FastifyInstance;
  /** http://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/** `qwen3guard serve` with the given models (no tenants: no key needed), on a loopback port. */
export async function startEngineServer(options: {
  gen?: string;
  stream?: string;
  cacheDir: string;
  config?: Record<string, unknown>;
}): Promise<EngineServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-engine-server-"));
  const parsed = parseServerConfig(
    {
      models: {
        ...(options.gen ? { gen: options.gen } : {}),
        ...(options.stream ? { stream: options.stream } : {}),
      },
      engine: { ...ENGINE, cacheDir: options.cacheDir },
      logLevel: "silent",
      ...options.config,
    },
    {},
    dir,
  );
  const runtime = await loadServerRuntime(parsed, { warn: () => undefined });
  const app = await createServer(runtime, { logger: false });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    runtime,
    app,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await runtime.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What the proxy does with one request (by its index among the POSTs it received). */
export type ProxyFault =
  { kind: "status"; status: number } | { kind: "delay"; ms: number } | { kind: "reset" };

/**
 * A loopback HTTP proxy in front of an engine server: forwards every request as is, except that scripted POSTs
 * fail (a status, a delay, a reset connection), every POST fails while `down` is set (503), and health checks fail
 * while `unhealthy` is set. Counts what it forwarded.
 */
export class FaultProxy {
  faults = new Map<number, ProxyFault>();
  /** Every POST answers 503 (an engine that is up but failing). */
  down = false;
  /** GET health routes answer 503. */
  unhealthy = false;
  /** POSTs received, and how many of them reached the engine. */
  posts = 0;
  forwarded = 0;
  /** POSTs in flight now, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  private server: http.Server | undefined;

  constructor(private readonly target: string) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === "GET" && this.unhealthy) {
      res.writeHead(503, { "content-type": "application/json" }).end('{"status":"not ready"}');
      return;
    }
    if (req.method === "POST") {
      const index = this.posts++;
      const fault = this.faults.get(index);
      if (this.down) {
        res.writeHead(503, { "content-type": "application/json" }).end('{"error":{"message":"down"}}');
        return;
      }
      if (fault?.kind === "status") {
        res
          .writeHead(fault.status, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { message: `injected ${fault.status}` } }));
        return;
      }
      if (fault?.kind === "reset") {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
      if (res.destroyed || res.socket === null || res.socket.destroyed) return;
      this.forwarded++;
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    }
    try {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === "string" && !["host", "content-length", "connection"].includes(k)) headers[k] = v;
      }
      const answer = await fetch(`${this.target}${req.url ?? "/"}`, {
        method: req.method ?? "GET",
        headers,
        ...(req.method === "POST" ? { body } : {}),
      });
      const text = Buffer.from(await answer.arrayBuffer());
      if (res.destroyed) return;
      res.writeHead(answer.status, {
        "content-type": answer.headers.get("content-type") ?? "application/json",
      });
      res.end(text);
    } finally {
      if (req.method === "POST") this.inFlight--;
    }
  }
}
