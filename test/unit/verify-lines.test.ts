/**
 * What the verifier finds in one receipt line beyond its schema and hash:
 * member names twice (I-JSON), timestamps of the right form that name no
 * instant, numbers outside what `params` may hold or not in canonical form,
 * and lines beyond the receipt limits (receipts/SPEC.md §2.2). Each line
 * here hashes correctly: only the verifier's new checks can catch it.
 */
import { describe, expect, it } from "vitest";
import { receiptHash } from "../../src/ledger/hash.ts";
import { checkLine, isRealTimestamp } from "../../src/ledger/verify-lines.ts";
import { fixtureReceipts, resealed } from "../fixtures/generate-archives.ts";

const receipts = fixtureReceipts();
const line = (seq: number, change?: (r: Record<string, unknown>) => void) => JSON.stringify(change === undefined ? receipts[seq] : resealed(receipts, seq, change)[seq]);
const codes = (text: string, notUtf8 = false) => checkLine(text, 1, notUtf8).errors.map((e) => e.code);

describe("checkLine", () => {
  it("passes every line of the valid fixture", () => {
    for (const r of receipts) expect(checkLine(JSON.stringify(r), r.seq + 1).errors).toEqual([]);
  });

  it("refuses a member name twice, at the top or deeper, although its hash verifies", () => {
    const top = line(3).replace(/^\{/, '{"action":"launch",');
    expect(checkLine(top, 4).errors.map((e) => e.message)).toEqual(['seq 3: $ has the member "action" more than once']);
    const deep = line(1).replace('"params":{', '"params":{"note":"other",');
    expect(receiptHash(JSON.parse(deep) as object)).toBe((JSON.parse(deep) as { hash: string }).hash);
    expect(checkLine(deep, 2).errors.map((e) => e.message)).toEqual(['seq 1: $.params has the member "note" more than once']);
  });

  it("refuses timestamps that match the pattern but are no real date, in `timestamp` and in `deadline`", () => {
    for (const ts of ["2026-02-30T10:00:00.000Z", "2026-11-31T09:00:00.000Z", "2026-11-01T25:00:00.000Z", "2026-11-01T24:00:00.000Z", "2026-11-01T09:60:00.000Z", "2026-11-01T09:00:60.000Z", "2026-13-01T09:00:00.000Z", "2026-00-10T09:00:00.000Z", "2027-02-29T09:00:00.000Z"]) {
      expect([ts, isRealTimestamp(ts)]).toEqual([ts, false]);
      expect(codes(line(11, (r) => void (r["timestamp"] = ts)))).toEqual(["TIMESTAMP_INVALID"]);
    }
    for (const ts of ["2028-02-29T23:59:59.999Z", "2000-02-29T00:00:00.000Z", "2026-12-31T23:59:59.999Z"]) expect([ts, isRealTimestamp(ts)]).toEqual([ts, true]);
    expect(isRealTimestamp("2100-02-29T00:00:00.000Z")).toBe(false);
    const deadline = checkLine(line(1, (r) => void (r["deadline"] = "2026-02-30T09:00:00.000Z")), 2).errors;
    expect(deadline.map((e) => e.message)).toEqual(['seq 1: field "deadline": 2026-02-30T09:00:00.000Z is not a real UTC date and time']);
  });

  it("refuses numbers params may not hold, and numbers not in the canonical form that was hashed", () => {
    expect(codes(line(1, (r) => void (r["params"] = { n: 2 ** 60 })))).toEqual(["NUMBER_OUT_OF_RANGE"]);
    expect(codes(line(1, (r) => void (r["params"] = { n: 9007199254740991, f: 0.1, e: 1e21, small: -1.5e-7 })))).toEqual([]);
    expect(codes(line(0).replace('"concurrency":1,', '"concurrency":1.0,'))).toEqual(["NUMBER_NOT_CANONICAL"]);
  });

  it("refuses a line beyond the receipt limits without recursing into it", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const tooDeep = checkLine(line(1, (r) => void (r["params"] = { x: deep })), 2).errors;
    expect(tooDeep.map((e) => e.code)).toEqual(["JSON_TOO_DEEP"]);
    expect(tooDeep[0]!.message).toMatch(/^seq 1: \$\.params\.x\[0\]/);
    // Nested far deeper than any stack: refused, not crashed.
    const abyss = JSON.stringify(receipts[1]).replace('"params":{"note":"first"}', `"params":{"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    expect(codes(abyss)).toEqual(["JSON_TOO_DEEP"]);
  });

  it("reports bytes that were not UTF-8 with the seq, first", () => {
    const r = checkLine(line(1), 2, true);
    expect(r.errors.map((e) => e.message)).toEqual(["seq 1: not valid UTF-8 (RFC 8259 §8.1): the line has bytes that are not UTF-8"]);
    expect(checkLine("{\ufffd", 7, true).errors.map((e) => e.code)).toEqual(["INVALID_UTF8", "LINE_NOT_JSON"]);
  });
});
