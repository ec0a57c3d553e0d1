/** What every group of routes is given: the service, the settings it answers by, metrics and authentication. */
import type { FastifyRequest } from "fastify";
import type { GovernorService } from "../../app/governor-service.ts";
import type { Config } from "../../config.ts";
import type { Scope } from "../../credentials.ts";
import type { Metrics } from "./metrics.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The body as received (UTF-8 text), for signatures over it. */
    rawBody?: string;
    /** The scope the bearer token was granted. */
    scope?: Scope;
  }
}

/** The settings the HTTP API answers by. */
export type HttpSettings = Pick<Config, "bodyLimitBytes" | "retryAfterS" | "webhookToleranceS">;

/** A hook that requires a bearer token of one of the scopes (admin always passes). */
export type Auth = (...allowed: Scope[]) => (req: FastifyRequest) => Promise<void>;

export interface RouteContext {
  readonly service: GovernorService;
  readonly settings: HttpSettings;
  readonly metrics: Metrics;
  readonly auth: Auth;
}
