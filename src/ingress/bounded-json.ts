/**
 * JSON from outside, bounded before anything reads it: at most `maxBytes`,
 * UTF-8 (RFC 8259 §8.1; a lenient decoder would put U+FFFD in place of bad
 * bytes, changing the value that is then hashed), within the JSON limits
 * (src/ledger/json-limits.ts), then parsed. HTTP bodies and Pub/Sub messages
 * alike go through it; each ingress words the refusal its own way.
 */
import { isUtf8 } from "node:buffer";
import { JSON_LIMITS, scanJson, type JsonViolationKind } from "../ledger/json-limits.ts";

/** Why bytes are not bounded JSON: a bound (`kind`), and what to fix (`detail`). */
export interface JsonRefusal {
  readonly kind: JsonViolationKind | "TOO_LARGE" | "INVALID_UTF8" | "INVALID_JSON";
  readonly detail: string;
}

/** The text and its value, or why there is none. */
export type DecodedJson = { readonly text: string; readonly value: unknown } | { readonly refused: JsonRefusal };

/** Decodes `bytes` as bounded JSON. Never throws. */
export function decodeBoundedJson(bytes: Uint8Array, maxBytes: number): DecodedJson {
  if (bytes.byteLength > maxBytes) return { refused: { kind: "TOO_LARGE", detail: `${bytes.byteLength} bytes is over the limit of ${maxBytes}` } };
  if (!isUtf8(bytes)) return { refused: { kind: "INVALID_UTF8", detail: "not valid UTF-8 (JSON text must be UTF-8)" } };
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const violation = scanJson(text, JSON_LIMITS);
  if (violation !== null) return { refused: { kind: violation.kind, detail: violation.message } };
  try {
    return { text, value: JSON.parse(text) };
  } catch (err) {
    return { refused: { kind: "INVALID_JSON", detail: (err as Error).message } };
  }
}
