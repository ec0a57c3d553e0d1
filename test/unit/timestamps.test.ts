import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoTimestamp, monthOf, parseTimestamp } from "../../governors/timestamps.ts";

// Epoch ms from 1970 to 2200: receipts' timestamps are four-digit years.
const ms = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) });

describe("receipt timestamps", () => {
  it("format and parse as Date does, whatever came before (the remembered answer never leaks)", () => {
    fc.assert(
      fc.property(fc.array(ms, { minLength: 1, maxLength: 20 }), (times) => {
        for (const t of [...times, ...times.toReversed(), times[0]!, times[0]!]) {
          const iso = new Date(t).toISOString();
          expect(isoTimestamp(t)).toBe(iso);
          expect(parseTimestamp(iso)).toBe(t);
          expect(monthOf(t)).toBe(iso.slice(0, 7));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("puts the first and the last millisecond of a month in that month, leap days included", () => {
    for (const [y, m] of [[2026, 0], [2026, 1], [2028, 1], [2026, 11], [2100, 1]] as const) {
      const first = Date.UTC(y, m, 1);
      const next = Date.UTC(y, m + 1, 1);
      const name = `${y}-${String(m + 1).padStart(2, "0")}`;
      expect(monthOf(first)).toBe(name);
      expect(monthOf(next - 1)).toBe(name);
      expect(monthOf(next)).not.toBe(name);
      expect(monthOf(first - 1)).not.toBe(name);
    }
  });

  it("parses what is not a timestamp as NaN, as Date.parse does", () => {
    expect(parseTimestamp("2026-11-24T10:00:00.000Z")).toBe(Date.UTC(2026, 10, 24, 10));
    expect(parseTimestamp("not a time")).toBeNaN();
    expect(parseTimestamp("2026-11-24T10:00:00.000Z")).toBe(Date.UTC(2026, 10, 24, 10));
  });
});
