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

  app.get("/metrics", async (_request, reply) => {
    const { contentType, body } = await runtime.metrics.render();
    return reply.type(contentType).send(body);
  });
}
