/** Operations: liveness, readiness (models loaded and not draining) and Prometheus metrics. */
import type { FastifyInstance } from "fastify";
import type { ServerRuntime } from "../runtime.js";

export function registerHealthRoutes(app: FastifyInstance, runtime: ServerRuntime): void {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const models = {
      gen: runtime.gen !== undefined,
      stream: runtime.stream !== undefined,
    };
    const ready = !runtime.draining && (models.gen || models.stream);
    return reply.status(ready ? 200 : 503).send({
      status: ready ? "ready" : runtime.draining ? "draining" : "not ready",
      models,
      ...(runtime.synthetic ? { synthetic: runtime.synthetic } : {}),
    });
  });

  // vLLM's and llama-server's health route, for a server used as another's remote engine (kind "vllm")
  app.get("/health", async (_request, reply) => {
    const ready = !runtime.draining && (runtime.gen !== undefined || runtime.stream !== undefined);
    return reply.status(ready ? 200 : 503).send(ready ? { status: "ok" } : { status: "not ready" });
  });

  app.get("/metrics", async (_request, reply) => {
    const { contentType, body } = await runtime.metrics.render();
    return reply.type(contentType).send(body);
  });
}
