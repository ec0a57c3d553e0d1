/**
 * The intake path checks the common signal by hand before the schema: both
 * must take the same values and give the same signal, or the hand check would
 * let through (or change) what the schema refuses.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSignalBody, SignalBody } from "../../src/ingress/signal-body.ts";

/** The same verdict and, when taken, the same signal (members and their order). */
function expectSame(value: unknown): void {
  const fast = parseSignalBody(value);
  const schema = SignalBody.safeParse(value);
  expect(fast.success).toBe(schema.success);
  if (fast.success && schema.success) {
    expect(fast.data).toEqual(schema.data);
    expect(Object.keys(fast.data)).toEqual(Object.keys(schema.data));
    expect(Object.keys(fast.data.params)).toEqual(Object.keys(schema.data.params));
  }
}

const signalId = fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/), fc.string({ maxLength: 260 }), fc.constantFrom("", "-x", "a".repeat(256), "a".repeat(257), "a b"));
const action = fc.oneof(fc.string({ maxLength: 70 }), fc.constantFrom("", "noop", "x".repeat(64), "x".repeat(65)));
const params = fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })), fc.jsonValue({ maxDepth: 2 }), fc.constant(JSON.parse('{"__proto__":{"x":1},"a":1}') as unknown));
const body = fc.record(
  { signal_id: fc.oneof(signalId, fc.jsonValue({ maxDepth: 1 })), action: fc.oneof(action, fc.jsonValue({ maxDepth: 1 })), params, extra: fc.jsonValue({ maxDepth: 1 }) },
  { requiredKeys: [] },
);

describe("parseSignalBody", () => {
  it("agrees with the schema on signal-like objects and on any JSON value", () => {
    fc.assert(fc.property(body, expectSame), { numRuns: 3000 });
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), expectSame), { numRuns: 1000 });
  });

  it("agrees on the edges: limits, a member named __proto__, numeric member names, and bodies parsed from text", () => {
    expect.hasAssertions();
    for (const text of [
      '{"signal_id":"s1","action":"noop"}',
      '{"signal_id":"s1","action":"noop","params":{}}',
      '{"signal_id":"s1","action":"noop","params":{"2":1,"b":2,"1":3}}',
      '{"signal_id":"s1","action":"noop","params":{"__proto__":{"polluted":true}}}',
      '{"__proto__":{"signal_id":"s1"},"signal_id":"s1","action":"noop"}',
      '{"signal_id":"s1","action":"noop","params":[]}',
      '{"signal_id":"s1","action":"noop","params":null}',
      '{"signal_id":"s1","action":"","params":{}}',
      `{"signal_id":"${"a".repeat(256)}","action":"${"x".repeat(64)}"}`,
      `{"signal_id":"${"a".repeat(257)}","action":"noop"}`,
      `{"signal_id":"s1","action":"${"x".repeat(65)}"}`,
      '{"signal_id":"s1","action":"é"}',
      '{"signal_id":"s1","action":1}',
      '{"signal_id":1,"action":"noop"}',
      '{"signal_id":"s1","action":"noop","account_id":"other"}',
      "[]",
      "null",
    ]) {
      expectSame(JSON.parse(text));
    }
  });

  it("hands the schema's refusal on, worded by the schema", () => {
    const r = parseSignalBody({ signal_id: "s 1", action: "noop" });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues[0]?.message).toBe("expected 1-256 characters: letters, digits, '.', '_', ':', '-'");
  });
});
