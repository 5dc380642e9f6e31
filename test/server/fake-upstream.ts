/**
 * A small OpenAI-compatible chat completions server on loopback, standing in for the GPU LLM the proxy would sit in
 * front of (none can run on the machines the tests run on). It answers from a script the test sets, streams text
 * in chunks as OpenAI does, and records every request it received and whether the proxy closed a connection before
 * the answer was complete.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Script =
  | {
      kind: "stream";
      /** Text deltas, in order. */
      chunks: string[];
      /** Pause before each chunk (ms). */
      delayMs?: number;
      finishReason?: string;
      /** Tool calls streamed after the text: name, then the arguments in pieces. */
      toolCalls?: { id: string; name: string; argumentChunks: string[] }[];
      /** Stop sending after this many chunks and keep the connection open. */
      hangAfter?: number;
      /** Send an in-stream error frame after this many chunks. */
      errorAfter?: number;
    }
  | { kind: "json"; content: string; toolCalls?: { id: string; name: string; arguments: string }[] }
  | { kind: "status"; status: number; body: string; headers?: Record<string, string> };

export interface ReceivedRequest {
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** True when the proxy closed the connection before the answer was complete. */
  closedEarly: boolean;
  /** Chunks written before the connection closed. */
  sent: number;
}

export class FakeUpstream {
  readonly received: ReceivedRequest[] = [];
  /** The answer to a request (by its index among the requests received). */
  script: (body: Record<string, unknown>, index: number) => Script = () => ({
    kind: "stream",
    chunks: ["Hello", " there."],
  });
  private server: http.Server | undefined;
  private readonly open = new Set<http.ServerResponse>();
  url = "";

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  reset(): void {
    this.received.length = 0;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const body = JSON.parse(Buffer.concat(parts).toString("utf8")) as Record<string, unknown>;
    const record: ReceivedRequest = { body, headers: req.headers, closedEarly: false, sent: 0 };
    this.received.push(record);
    const script = this.script(body, this.received.length - 1);
    let complete = false;
    this.open.add(res);
    res.on("close", () => {
      this.open.delete(res);
      if (!complete) record.closedEarly = true;
    });
    const base = {
      id: `chatcmpl-fake-${this.received.length}`,
      created: 1_700_000_000,
      model: String(body.model ?? "fake-model"),
    };
    if (script.kind === "status") {
      res.writeHead(script.status, { "content-type": "application/json", ...script.headers });
      complete = true;
      res.end(script.body);
      return;
    }
    if (script.kind === "json") {
      complete = true;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          ...base,
          object: "chat.completion",
          system_fingerprint: "fp_fake",
          choices: [
            {
              index: 0,
              message: {
                role: "assistant",
                content: script.content,
                refusal: null,
                ...(script.toolCalls
                  ? {
                      tool_calls: script.toolCalls.map((t) => ({
                        id: t.id,
                        type: "function",
                        function: { name: t.name, arguments: t.arguments },
                      })),
                    }
                  : {}),
              },
              logprobs: null,
              finish_reason: script.toolCalls ? "tool_calls" : "stop",
            },
          ],
          usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
          extra_field: "kept",
        }),
      );
      return;
    }
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
      ...base,
      object: "chat.completion.chunk",
      system_fingerprint: "fp_fake",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
    const write = (data: unknown) => {
      if (res.destroyed) return false;
      res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
      return true;
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    write(chunk({ role: "assistant", content: "", refusal: null }));
    let i = 0;
    for (const text of script.chunks) {
      if (script.hangAfter !== undefined && i >= script.hangAfter) return; // silent, connection open
      if (script.errorAfter !== undefined && i >= script.errorAfter) {
        write({
          error: { message: "the model crashed", type: "server_error", param: null, code: "model_crash" },
        });
        complete = true;
        res.end();
        return;
      }
      if (script.delayMs) await sleep(script.delayMs);
      if (!write(chunk({ content: text }))) return;
      record.sent++;
      i++;
    }
    for (const [index, call] of (script.toolCalls ?? []).entries()) {
      write(
        chunk({
          tool_calls: [
            { index, id: call.id, type: "function", function: { name: call.name, arguments: "" } },
          ],
        }),
      );
      for (const args of call.argumentChunks) {
        if (script.delayMs) await sleep(script.delayMs);
        if (!write(chunk({ tool_calls: [{ index, function: { arguments: args } }] }))) return;
        record.sent++;
      }
    }
    write(chunk({}, script.finishReason ?? (script.toolCalls ? "tool_calls" : "stop")));
    if (includeUsage) {
      write({
        ...base,
        object: "chat.completion.chunk",
        system_fingerprint: "fp_fake",
        choices: [],
        usage: {
          prompt_tokens: 11,
          completion_tokens: script.chunks.length,
          total_tokens: 11 + script.chunks.length,
        },
      });
    }
    write("[DONE]");
    complete = true;
    res.end();
  }
}
