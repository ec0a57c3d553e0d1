/** Platform routes: liveness, readiness, status, Prometheus metrics and the checkpoint verifier keys. */
import type { FastifyInstance } from "fastify";
import type { RouteContext } from "./context.ts";

export function registerPlatformRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { service, metrics, auth } = ctx;

  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    const h = service.health();
    const accepting = service.accepting;
    const ready = accepting && !h.degraded;
    return reply.status(ready ? 200 : 503).send({ ready, safe_mode: h.degraded, accepting, store: h.store });
  });

  app.get("/v1/status", { preHandler: auth("operator") }, async () => {
    const h = service.health();
    return {
      status: h.degraded ? "degraded" : "ok",
      safe_mode: h.degraded,
      accepting: service.accepting,
      store: h.store,
      backend: service.backend,
      governors: service.tenantCounts(),
      policies: service.policies().map((p) => ({ sku_id: p.sku_id, policy_version: p.policy_version })),
      ...h.details,
    };
  });

  app.get("/metrics", async (_req, reply) => reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get("/.well-known/governor/keys", async (_req, reply) =>
    reply.header("content-type", "text/plain; charset=utf-8").send(service.verifierKeys().map((k) => `${k}\n`).join("")),
  );
}
