/** A tenant's signal as every ingress takes it (HTTP body, Pub/Sub message data). */
import { z } from "zod";
import { JsonLimitError, parseBoundedJsonBytes } from "../ledger/json-limits.ts";

export const SignalBody = z.strictObject({
  signal_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/, "expected 1-256 characters: letters, digits, '.', '_', ':', '-'"),
  action: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()).default({}),
});
export type SignalBody = z.infer<typeof SignalBody>;

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
  const parsed = SignalBody.safeParse(json.value);
  if (parsed.success) return { signal: parsed.data };
  return { reason: `the message is not a signal: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "data"}: ${i.message}`).join("; ")}` };
}

/** Message data as bounded JSON, or why it is not (for any JSON message: signals, procurement events). */
export function decodeMessageJson(data: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): { value: unknown } | { reason: string } {
  try {
    return { value: parseBoundedJsonBytes(data, maxBytes) };
  } catch (err) {
    if (err instanceof JsonLimitError && err.kind === "INVALID_JSON") return { reason: `the message is not JSON: ${err.message.replace(/^not valid JSON: /, "")}` };
    return { reason: `the message is refused: ${(err as Error).message} (code ${err instanceof JsonLimitError ? `BODY_${err.kind}` : "BODY_INVALID"})` };
  }
}
