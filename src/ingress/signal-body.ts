/** A tenant's signal as every ingress takes it (HTTP body, Pub/Sub message data). */
import { z } from "zod";
import { decodeBoundedJson } from "./bounded-json.ts";

const SIGNAL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/;
const MAX_ACTION_LENGTH = 64;

export const SignalBody = z.strictObject({
  signal_id: z.string().regex(SIGNAL_ID, "expected 1-256 characters: letters, digits, '.', '_', ':', '-'"),
  action: z.string().min(1).max(MAX_ACTION_LENGTH),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type SignalBody = z.infer<typeof SignalBody>;

/**
 * `SignalBody.safeParse`, with the common case checked by hand first: a plain
 * object of these three members at most, each valid, is the signal as the
 * schema would give it. Anything else goes through the schema, which words
 * the refusal. Both take the same values and give the same signal
 * (test/unit/signal-body.test.ts holds them to it); the hand check only saves
 * the schema's work on every signal of the intake path.
 */
export function parseSignalBody(value: unknown): { success: true; data: SignalBody } | { success: false; error: z.ZodError } {
  const signal = plainSignal(value);
  return signal === null ? SignalBody.safeParse(value) : { success: true, data: signal };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** The signal, when `value` is one without doubt; null leaves it to the schema. */
function plainSignal(value: unknown): SignalBody | null {
  if (!isPlainObject(value)) return null;
  for (const key in value) if (key !== "signal_id" && key !== "action" && key !== "params") return null;
  const { signal_id: signalId, action, params } = value;
  if (typeof signalId !== "string" || !SIGNAL_ID.test(signalId)) return null;
  if (typeof action !== "string" || action.length < 1 || action.length > MAX_ACTION_LENGTH) return null;
  if (params === undefined) return { signal_id: signalId, action, params: {} };
  // A "__proto__" member is left to the schema, which copies members into a new object.
  if (!isPlainObject(params) || Object.hasOwn(params, "__proto__")) return null;
  return { signal_id: signalId, action, params };
}

/** The largest message taken from Pub/Sub as a signal or an event, as GOVERNOR_BODY_LIMIT_BYTES is for HTTP bodies by default. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * Decodes message data (a Pub/Sub message) as a signal: within the size
 * limit, UTF-8, within the JSON limits (src/ledger/json-limits.ts), then the
 * signal's schema. A message that is not one gives the reason, to record.
 */
export function decodeSignal(data: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): { signal: SignalBody } | { reason: string } {
  const json = decodeMessageJson(data, maxBytes);
  if ("reason" in json) return json;
  const parsed = parseSignalBody(json.value);
  if (parsed.success) return { signal: parsed.data };
  return { reason: `the message is not a signal: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "data"}: ${i.message}`).join("; ")}` };
}

/** Message data as bounded JSON, or why it is not (for any JSON message: signals, procurement events). */
export function decodeMessageJson(data: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): { value: unknown } | { reason: string } {
  const json = decodeBoundedJson(data, maxBytes);
  if ("value" in json) return { value: json.value };
  const { kind, detail } = json.refused;
  if (kind === "INVALID_JSON") return { reason: `the message is not JSON: ${detail}` };
  return { reason: `the message is refused: ${detail} (code BODY_${kind})` };
}
