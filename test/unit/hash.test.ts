import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/ledger/canonical.ts";
import { createUuidV7Source, genesisHash, leafHashHex, receiptHash, sealReceipt, uuidV7 } from "../../src/ledger/hash.ts";
import { Receipt } from "../../src/ledger/receipt.ts";

describe("receipt hashing", () => {
  it("hash = SHA-256(0x00 ‖ JCS(body)) of the receipt without hash", () => {
    const r = sealReceipt(
      { operation: "action_refused", status: "refused", duration_ms: 0, signal_id: "s1", action: "noop", code: "not_permitted", reason: "no" },
      { ledger: "acct-1", seq: 0, prevHash: genesisHash("acct-1"), timestamp: "2026-11-24T10:00:00.000Z", receiptId: uuidV7(0), accountId: "acct-1" },
    );
    const { hash, ...body } = r;
    const expected = createHash("sha256").update(Buffer.concat([Buffer.from([0]), Buffer.from(canonicalJson(body))])).digest("hex");
    expect(hash).toBe(expected);
    expect(receiptHash(r)).toBe(expected);
    expect(leafHashHex(body)).toBe(expected);
    expect(Receipt.safeParse(r).success).toBe(true);
  });

  it("the genesis prev_hash is SHA-256 of 'governor-ledger/v1\\n' + ledger id", () => {
    expect(genesisHash("acct-1")).toBe(createHash("sha256").update("governor-ledger/v1\nacct-1").digest("hex"));
  });

  it("UUIDv7 ids carry the time and version, and sort in creation order within a millisecond", () => {
    const id = uuidV7(Date.parse("2026-11-24T10:00:00.000Z"));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(Date.parse("2026-11-24T10:00:00.000Z"));
    const next = createUuidV7Source(() => 1_700_000_000_000);
    const ids = Array.from({ length: 5000 }, next);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
