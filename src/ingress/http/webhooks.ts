/**
 * Standard Webhooks verification (https://www.standardwebhooks.com): the
 * three headers, a timestamp within the tolerance, and a `v1` signature over
 * id, timestamp and raw body that matches one of the active secrets (more
 * than one while a secret is rotated), compared in constant time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { Webhook } from "standardwebhooks";
import { ApiError, ApiErrorCode } from "./errors.ts";
import { header } from "./params.ts";

/** A verified delivery: its id and when the sender signed it (epoch seconds). */
export interface VerifiedWebhook {
  readonly id: string;
  readonly seconds: number;
}

export interface WebhookVerifierOptions {
  readonly secrets: readonly string[];
  readonly toleranceS: number;
  /** The clock the timestamp is checked against (epoch ms). */
  readonly now: () => number;
}

/** Verifies a request's webhook headers and signature; throws the API error to answer otherwise. */
export function createWebhookVerifier(options: WebhookVerifierOptions): (req: FastifyRequest) => VerifiedWebhook {
  const webhooks = options.secrets.map((s) => new Webhook(s));
  return (req) => {
    const id = header(req, "webhook-id");
    const ts = header(req, "webhook-timestamp");
    const sig = header(req, "webhook-signature");
    if (id === undefined || ts === undefined || sig === undefined) {
      throw new ApiError(401, ApiErrorCode.webhookHeaders, "send the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature");
    }
    if (id.length > 256) throw new ApiError(400, "WEBHOOK_ID_INVALID", `webhook-id has ${id.length} characters; at most 256 are accepted`);
    const seconds = /^\d{1,12}$/.test(ts) ? Number(ts) : Number.NaN;
    if (!Number.isFinite(seconds)) throw new ApiError(401, ApiErrorCode.webhookSignature, "webhook-timestamp must be integer seconds since the epoch");
    const skew = Math.floor(options.now() / 1000) - seconds;
    const tolerance = options.toleranceS;
    if (skew > tolerance) throw new ApiError(401, ApiErrorCode.webhookExpired, `webhook-timestamp is ${skew} s old; the limit is ${tolerance} s`);
    if (-skew > tolerance) throw new ApiError(401, ApiErrorCode.webhookFuture, `webhook-timestamp is ${-skew} s in the future; the limit is ${tolerance} s`);
    const raw = req.rawBody ?? "";
    // Signed with the library's own scheme, compared against every active secret (rotation).
    const presented = sig.split(" ").flatMap((p) => (p.startsWith("v1,") ? [p.slice(3)] : []));
    const valid = webhooks.some((w) => {
      const expected = w.sign(id, new Date(seconds * 1000), raw).split(",")[1] ?? "";
      return presented.some((p) => constantTimeEqual(p, expected));
    });
    if (!valid) throw new ApiError(401, ApiErrorCode.webhookSignature, "no webhook-signature matches an active webhook secret");
    return { id, seconds };
  };
}

/** Equal strings, compared in time that does not depend on where they differ. */
function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}
