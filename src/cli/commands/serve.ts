/**
 * `qwen3guard serve`: the HTTP server — the OpenAI-compatible moderating proxy, /v1/moderations, the native guard
 * endpoints, health and metrics. `qwen3guard hash-key`: the form an API key takes in the configuration.
 *
 *   qwen3guard serve --demo                                   toy models, no download (verdicts mean nothing)
 *   qwen3guard serve --stream-model M --gen-model M --upstream-url http://127.0.0.1:8000/v1
 *   qwen3guard serve --config qwen3guard.yaml
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { hashApiKey } from "../../server/auth.js";
import { CliInputError, CliUsageError } from "../errors.js";
import { loadServerConfig, type ServerFlags } from "../../server/config.js";
import { createServer } from "../../server/create-server.js";
import { DEMO_LABEL, listenAddress, loadServerRuntime } from "../../server/runtime.js";

interface ServeCliOptions {
  config?: string;
  host?: string;
  port?: number;
  genModel?: string;
  streamModel?: string;
  streamHeads?: string;
  upstreamUrl?: string;
  upstreamKey?: string;
  policy?: string;
  demo?: boolean;
  audit?: string;
  logLevel?: ServerFlags["logLevel"];
  gpu?: "auto" | "cpu";
  contextSize?: number;
  sequences?: number;
  threads?: number;
  kvCache?: "f16" | "f32";
  quantization?: "q8_0" | "f16" | "f32";
  cacheDir?: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number (0-65535)");
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description(
      "Serve the guard over HTTP: an OpenAI-compatible moderating proxy (/v1/chat/completions), /v1/moderations, " +
        "native endpoints (/v1/guard/*), /healthz, /readyz, /metrics",
    )
    .option("--config <file>", "YAML configuration (flags below override it)")
    .option("--host <host>", "interface to listen on (default 127.0.0.1)")
    .option("--port <port>", "port (default 8080; 0 picks a free one)", port)
    .option("--gen-model <model>", "Qwen3Guard-Gen: folder, GGUF file or pulled hub name")
    .option(
      "--stream-model <model>",
      "Qwen3Guard-Stream: folder, pulled hub name, or backbone GGUF with --stream-heads",
    )
    .option("--stream-heads <path>", "with a backbone GGUF: the Stream heads (folder or .safetensors)")
    .option("--upstream-url <url>", "the OpenAI-compatible LLM to moderate (base URL ending in /v1)")
    .option("--upstream-key <key>", "its API key (default: $UPSTREAM_API_KEY)")
    .option("--policy <file>", "the default policy file")
    .option("--demo", "serve the hand-set toy models (no download; their verdicts mean nothing about safety)")
    .option("--audit <file>", "write every decision to this SQLite audit log")
    .addOption(
      new Option("--log-level <level>", "log level").choices([
        "fatal",
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "silent",
      ]),
    )
    .addOption(new Option("--gpu <mode>", "use a GPU when present, or force CPU").choices(["auto", "cpu"]))
    .option("--context-size <tokens>", "positions per conversation", positiveInt)
    .option("--sequences <n>", "concurrent Gen requests / open Stream sessions per model", positiveInt)
    .option("--threads <n>", "llama.cpp threads (default: the available cores)", positiveInt)
    .addOption(new Option("--kv-cache <type>", "KV cache type").choices(["f16", "f32"]))
    .addOption(
      new Option("--quantization <type>", "GGUF type when converting a model folder").choices([
        "q8_0",
        "f16",
        "f32",
      ]),
    )
    .option(
      "--cache-dir <dir>",
      "cache for converted models (default: $QWEN3GUARD_CACHE or ~/.cache/qwen3guard)",
    )
    .action(async (options: ServeCliOptions) => {
      const engine = {
        ...(options.gpu ? { gpu: options.gpu } : {}),
        ...(options.contextSize ? { contextSize: options.contextSize } : {}),
        ...(options.sequences ? { sequences: options.sequences } : {}),
        ...(options.threads ? { threads: options.threads } : {}),
        ...(options.kvCache ? { kvCache: options.kvCache } : {}),
        ...(options.quantization ? { quantization: options.quantization } : {}),
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      };
      const config = loadServerConfig(options.config, {
        ...(options.host !== undefined ? { host: options.host } : {}),
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.genModel ? { genModel: options.genModel } : {}),
        ...(options.streamModel ? { streamModel: options.streamModel } : {}),
        ...(options.streamHeads ? { streamHeads: options.streamHeads } : {}),
        ...(options.upstreamUrl ? { upstreamUrl: options.upstreamUrl } : {}),
        ...(options.upstreamKey ? { upstreamKey: options.upstreamKey } : {}),
        ...(options.policy ? { policy: options.policy } : {}),
        ...(options.demo ? { demo: true } : {}),
        ...(options.audit ? { auditPath: options.audit } : {}),
        ...(options.logLevel ? { logLevel: options.logLevel } : {}),
        ...(Object.keys(engine).length > 0 ? { engine } : {}),
      });
      const say = (line: string) => process.stderr.write(`qwen3guard: ${line}\n`);
      const started = performance.now();
      const runtime = await loadServerRuntime(config, { log: say, warn: (m) => say(`warning: ${m}`) });
      const app = await createServer(runtime);
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        const grace = config.limits.shutdownGraceSeconds;
        say(`${signal}: draining open streams (up to ${grace} s), then stopping`);
        // whatever hangs, the process is gone shortly after the grace period
        setTimeout(
          () => {
            say(`still stopping ${grace + 5} s after ${signal}: exiting now`);
            process.exit(1);
          },
          (grace + 5) * 1000,
        ).unref();
        // stop listening at once (readiness fails, new connections are refused), let in-flight requests finish;
        // open streams get the grace period, then a final frame (runtime.drain, started by app.close)
        const closing = app.close();
        await runtime.drain(grace);
        await closing;
        await runtime.close();
        say("stopped");
        process.exit(0);
      };
      process.once("SIGTERM", () => void stop("SIGTERM"));
      process.once("SIGINT", () => void stop("SIGINT"));
      try {
        await app.listen({ host: config.host, port: config.port });
      } catch (error) {
        await app.close().catch(() => undefined);
        await runtime.close().catch(() => undefined);
        throw listenError(error, config.host, config.port);
      }
      const address = app.server.address();
      const boundPort = typeof address === "object" && address ? address.port : config.port;
      const models = [
        runtime.gen ? `Gen ${config.models.gen ?? "(demo toy)"}` : undefined,
        runtime.stream ? `Stream ${config.models.stream ?? "(demo toy)"}` : undefined,
      ].filter(Boolean);
      say(
        `listening on ${listenAddress(config.host, boundPort)} (${((performance.now() - started) / 1000).toFixed(1)} s to start)`,
      );
      say(`models: ${models.join(", ")}`);
      if (config.demo) say(DEMO_LABEL);
      else if (runtime.synthetic)
        say(
          `warning: synthetic models (${runtime.synthetic} weights): their verdicts mean nothing about safety`,
        );
      say(`upstream: ${runtime.upstream ? runtime.upstream.url : "none (the proxy endpoint answers 503)"}`);
      say(`auth: ${runtime.auth.required ? "API keys required" : "open (no API keys configured)"}`);
      if (runtime.audit) say(`audit log: ${config.audit.path}`);
      if (config.playground) say(`playground: ${listenAddress(config.host, boundPort)}/`);
    });

  program
    .command("hash-key")
    .description(
      "Print the form an API key takes in the server configuration (sha256:<hex>); reads the key from stdin if not given",
    )
    .argument("[key]", "the API key")
    .action(async (key: string | undefined) => {
      let value = key;
      if (value === undefined) {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        value = Buffer.concat(chunks).toString("utf8").trim();
      }
      if (!value) throw new CliUsageError("no key given (pass it, or pipe it on stdin)");
      process.stdout.write(`${hashApiKey(value)}\n`);
    });
}

/** Why the server could not listen, with what to do about it. */
function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${host}:${port}`;
  const hint: Record<string, string> = {
    EADDRINUSE: `${where} is already in use (another server?): stop it, or pick another port with --port`,
    EACCES: `not allowed to listen on ${where}: ports below 1024 need privileges; pick another with --port`,
    EADDRNOTAVAIL: `${host} is not an address of this machine: give one of its interfaces with --host (e.g. 127.0.0.1 or 0.0.0.0)`,
    ENOTFOUND: `the host ${JSON.stringify(host)} does not resolve: give an address or a resolvable name with --host`,
  };
  return code !== undefined && hint[code] !== undefined
    ? new CliInputError(hint[code], { cause: error })
    : error;
}
