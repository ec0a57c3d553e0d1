/**
 * `POST /v1/marketplace/signup`: the sign-up URL a partner gives Google
 * Cloud Marketplace. The buyer's browser posts the token Google signed as
 * the form field `x-gcp-marketplace-token`; JSON with that member is taken
 * too. No bearer token: the signed token is the credential, and the service
 * verifies it before anything else.
 *
 * Form bodies are parsed in this route's own scope only, within a small
 * limit: every other route still takes JSON alone.
 */
import formbody from "@fastify/formbody";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { RouteContext } from "./context.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";

/** The form field Google posts. */
export const SIGNUP_TOKEN_FIELD = "x-gcp-marketplace-token";
/** Google's token is a few hundred bytes; the form around it is not much more. */
export const SIGNUP_BODY_LIMIT_BYTES = 16 * 1024;

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

const SignupBody = z.looseObject({ [SIGNUP_TOKEN_FIELD]: z.string().min(1) });

export function registerSignupRoutes(app: FastifyInstance, ctx: RouteContext): void {
  void app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: SIGNUP_BODY_LIMIT_BYTES });
    scope.post("/v1/marketplace/signup", { bodyLimit: SIGNUP_BODY_LIMIT_BYTES, onRequest: checkEnvelope }, async (req, reply) => {
      const body = SignupBody.safeParse(req.body);
      if (!body.success) {
        throw new ApiError(400, "SIGNUP_TOKEN_MISSING", `send the sign-up token Google Cloud Marketplace issued as the one form field ${SIGNUP_TOKEN_FIELD}`);
      }
      const outcome = await ctx.service.marketplaceSignup(body.data[SIGNUP_TOKEN_FIELD]);
      if ("code" in outcome) {
        throw new ApiError(outcome.status, outcome.code, outcome.message, outcome.retryAfterS === undefined ? {} : { "retry-after": String(outcome.retryAfterS) });
      }
      return reply.status(200).header("cache-control", "no-store").send(outcome.body);
    });
  });
}

/** Refuses, before the body is read, a media type this route does not take or a declared length over its limit, in the route's own words. */
async function checkEnvelope(req: FastifyRequest): Promise<void> {
  const type = req.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  if (type !== undefined && type !== FORM && type !== JSON_TYPE) {
    throw new ApiError(415, ApiErrorCode.bodyMediaType, `send the sign-up as ${FORM} (the field ${SIGNUP_TOKEN_FIELD}) or as ${JSON_TYPE}`);
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > SIGNUP_BODY_LIMIT_BYTES) {
    throw new ApiError(413, ApiErrorCode.bodyTooLarge, `the sign-up body is larger than ${SIGNUP_BODY_LIMIT_BYTES} bytes`);
  }
}
