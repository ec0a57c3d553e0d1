/**
 * The HTTP API (paths and status codes are a contract: see the README): one
 * Fastify instance, its limits, and the route groups, each given the
 * GovernorService. Tests drive it in-process with `app.inject()` and end to
 * end over a real socket.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from "fastify";
import type { Logger } from "pino";
import type { GovernorService } from "../../app/governor-service.ts";
import type { Credentials } from "../../credentials.ts";
import { decodeBoundedJson, type JsonRefusal } from "../bounded-json.ts";
import { registerAuditorRoutes } from "./auditor.ts";
import { createAuth } from "./auth.ts";
import type { HttpSettings, RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode, bodyLimitCode, installErrorHandlers } from "./errors.ts";
import { registerMarketplaceRoutes } from "./marketplace.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { registerPlatformRoutes } from "./platform.ts";
import { registerPolicyRoutes } from "./policies.ts";
import { registerSignalRoutes } from "./signals.ts";
import { registerSignupRoutes } from "./signup.ts";
import { registerTenantTokenRoutes } from "./tenant-tokens.ts";
import { registerTenantRoutes } from "./tenants.ts";

export interface HttpServerOptions {
  readonly settings: HttpSettings;
  /** Platform tokens by scope, and the webhook secrets. */
  readonly credentials: Credentials;
  readonly logger: Logger;
}

/** Builds the Fastify app around the service. */
export function buildHttpServer(service: GovernorService, options: HttpServerOptions): { app: FastifyInstance; metrics: Metrics } {
  const { settings } = options;
  const metrics = createMetrics({ governorsByState: () => service.tenantCounts(), safeMode: () => service.health().degraded });
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: settings.bodyLimitBytes,
    return503OnClosing: true,
    // Above the longest account id (128), so that one is addressable and a longer one gets our 400, not the router's 414.
    routerOptions: { maxParamLength: 512 },
    // Errors the router raises before a route runs (a malformed or over-long URL) answer in the API's own format.
    frameworkErrors: (err, _req, reply) => {
      const tooLong = err.code === "FST_ERR_MAX_PARAM_LENGTH";
      metrics.httpErrors.inc({ code: ApiErrorCode.queryInvalid });
      void (reply as FastifyReply)
        .status(tooLong ? 414 : 400)
        .send({ error: { code: ApiErrorCode.queryInvalid, message: tooLong ? "a path segment is longer than 512 characters" : "the URL cannot be decoded; percent-encode it properly" } });
    },
  });
  installJsonBodyParser(app);
  installErrorHandlers(app, { bodyLimitBytes: settings.bodyLimitBytes, metrics });

  const ctx: RouteContext = { service, settings, metrics, auth: createAuth(service, options.credentials) };
  registerMarketplaceRoutes(app, ctx, options.credentials);
  registerSignupRoutes(app, ctx);
  registerSignalRoutes(app, ctx);
  registerTenantTokenRoutes(app, ctx);
  registerTenantRoutes(app, ctx);
  registerAuditorRoutes(app, ctx);
  registerPolicyRoutes(app, ctx);
  registerPlatformRoutes(app, ctx);
  return { app, metrics };
}

/**
 * Every body on every route is bounded here, before anything hashes,
 * canonicalizes or decides on it (the route's size limit is Fastify's).
 */
function installJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (req, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) {
      done(new ApiError(400, ApiErrorCode.bodyJson, "the body is empty; send a JSON object"), undefined);
      return;
    }
    const json = decodeBoundedJson(bytes, Number.POSITIVE_INFINITY);
    if ("value" in json) {
      req.rawBody = json.text;
      done(null, json.value);
      return;
    }
    done(bodyRefusal(json.refused), undefined);
  });
}

/** The answer to a body that is not bounded JSON. */
function bodyRefusal({ kind, detail }: JsonRefusal): ApiError {
  switch (kind) {
    case "INVALID_UTF8":
      return new ApiError(400, ApiErrorCode.bodyJson, "the body is not valid UTF-8; JSON text must be UTF-8");
    case "INVALID_JSON":
      return new ApiError(400, ApiErrorCode.bodyJson, `the body is not valid JSON: ${detail}`);
    case "TOO_LARGE":
      // Fastify bounds the size before the parser runs; kept so that every refusal has an answer.
      return new ApiError(413, ApiErrorCode.bodyTooLarge, `the body is refused: ${detail}`);
    default:
      return new ApiError(400, bodyLimitCode[kind], `the body is refused: ${detail}`);
  }
}
