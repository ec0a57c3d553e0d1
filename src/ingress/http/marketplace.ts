/**
 * `POST /v1/marketplace/events`: marketplace events as signed webhooks.
 * `POST /v1/marketplace/reconcile` (operator): one pass of the Google Cloud
 * Marketplace reconciliation now.
 */
import type { FastifyInstance } from "fastify";
import { MarketplaceEvent } from "../../app/governor-service.ts";
import type { Credentials } from "../../credentials.ts";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode, zodMessage } from "./errors.ts";
import { createWebhookVerifier } from "./webhooks.ts";

export function registerMarketplaceRoutes(app: FastifyInstance, ctx: RouteContext, credentials: Pick<Credentials, "webhookSecrets">): void {
  const { service, metrics } = ctx;
  const verify = createWebhookVerifier({ secrets: credentials.webhookSecrets, toleranceS: ctx.settings.webhookToleranceS, now: () => service.now() });

  app.post("/v1/marketplace/events", async (req, reply) => {
    const { id, seconds } = verify(req);
    const parsed = MarketplaceEvent.safeParse(req.body);
    if (!parsed.success) throw new ApiError(400, ApiErrorCode.bodyInvalid, zodMessage(parsed.error));
    const outcome = await service.marketplaceEvent({ source: "webhook", id, sentAt: seconds * 1000 }, parsed.data);
    metrics.marketplaceEvents.inc({ type: parsed.data.eventType, status: String(outcome.status) });
    if ("code" in outcome) {
      throw new ApiError(outcome.status, outcome.code, outcome.message, outcome.retryAfterS === undefined ? {} : { "retry-after": String(outcome.retryAfterS) });
    }
    return reply.status(outcome.status).send(outcome.body);
  });

  app.post("/v1/marketplace/reconcile", { preHandler: ctx.auth("operator") }, async () => {
    const result = await service.reconcileMarketplace();
    if (result === null) throw new ApiError(404, "MARKETPLACE_NOT_CONFIGURED", "Google Cloud Marketplace is not configured: set GOVERNOR_MARKETPLACE_PROVIDER_ID");
    return result;
  });
}
