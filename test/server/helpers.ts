/** A demo server (the hand-set toy models) on a loopback port, for the server tests. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { hashApiKey } from "../../src/server/auth.js";
import { parseServerConfig } from "../../src/server/config.js";
import { createServer } from "../../src/server/create-server.js";
import { loadServerRuntime, type ServerRuntime } from "../../src/server/runtime.js";

export interface TestServer {
  dir: string;
  runtime: ServerRuntime;
  app: FastifyInstance;
  /** http://127.0.0.1:PORT */
  base: string;
  close(): Promise<void>;
}

/** The toy models are written once per process into this cache. */
const CACHE = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-server-cache-"));
process.on("exit", () => fs.rmSync(CACHE, { recursive: true, force: true }));

/**
 * Start a demo server. `config` is merged over a small engine (CPU, 1024 positions, 2 sequences; `engine` keys are
 * merged into it) and two tenants:
 * acme (key "acme-key") and globex (key "globex-key"); `files` are written into the server's folder first.
 */
export async function startDemoServer(
  config: Record<string, unknown> = {},
  files: Record<string, string> = {},
): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qwen3guard-server-"));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const parsed = parseServerConfig(
    {
      demo: true,
      tenants: {
        acme: { apiKeys: [hashApiKey("acme-key")] },
        globex: { apiKeys: [hashApiKey("globex-key")] },
      },
      logLevel: "silent",
      ...config,
      // engine keys given are merged over the small engine
      engine: {
        cacheDir: CACHE,
        gpu: "cpu",
        contextSize: 1024,
        sequences: 2,
        ...(config.engine as Record<string, unknown> | undefined),
      },
    },
    {},
    dir,
  );
  const runtime = await loadServerRuntime(parsed, { warn: () => undefined });
  const app = await createServer(runtime, { logger: false });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return {
    dir,
    runtime,
    app,
    base,
    async close() {
      await app.close();
      await runtime.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A parsed JSON body, read loosely by the assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** POST JSON with a tenant's key; returns the status, headers and parsed body. */
export async function postJson(
  base: string,
  route: string,
  body: unknown,
  /** null: no Authorization header. */
  key: string | null = "acme-key",
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Json }> {
  const response = await fetch(`${base}${route}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** A whole WebSocket Stream session (GET /v1/guard/stream): open, the chunks, end; every frame until the close. */
export async function runStreamSession(
  base: string,
  options: {
    messages: { role: string; content: string }[];
    chunks: string[];
    rule?: "official" | "report";
    mode?: "strict" | "loose";
    /** null: no Authorization header. */
    key?: string | null;
  },
): Promise<Json[]> {
  const { default: WebSocket } = await import("ws");
  const key = options.key === undefined ? "acme-key" : options.key;
  const ws = new WebSocket(`${base.replace("http", "ws")}/v1/guard/stream`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const frames: Json[] = [];
  ws.on("message", (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<void>((resolve) => ws.on("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  ws.send(
    JSON.stringify({
      type: "open",
      messages: options.messages,
      ...(options.rule ? { rule: options.rule } : {}),
      ...(options.mode ? { mode: options.mode } : {}),
    }),
  );
  for (const text of options.chunks) ws.send(JSON.stringify({ type: "text", text }));
  ws.send(JSON.stringify({ type: "end" }));
  await closed;
  return frames;
}
