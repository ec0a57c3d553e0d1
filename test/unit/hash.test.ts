import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bytesToHex,
  createUuidV7Source,
  genesisHash,
  hexToBytes,
  leafHashHex,
  receiptHash,
  sealReceipt,
  sealReceiptText,
  sha256Hex,
  uuidV7,
  type SealContext,
} from "../../src/ledger/hash.ts";
import { canonicalJson } from "../../src/ledger/canonical.ts";
import { Receipt, type ReceiptDraft } from "../../src/ledger/receipt.ts";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const sha256 = (...parts: (string | Uint8Array)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

const refused: ReceiptDraft = {
  operation: "action_refused",
  status: "refused",
  duration_ms: 0,
  signal_id: "s1",
  action: "noop",
  code: "not_permitted",
  reason: "no",
};
const ctx: SealContext = {
  ledger: "acct-1",
  seq: 0,
  prevHash: "1644401fb368d35c72c1c5cbf96bac0fea44cb0435be8837c467af34efd119f6",
  timestamp: "2026-11-24T10:00:00.000Z",
  receiptId: "01890a5d-ac96-774b-bcce-b302099a8057",
  accountId: "acct-1",
};

describe("hashes (known answers computed outside this code, with sha256sum over hand-written canonical text)", () => {
  it("sha256Hex hashes strings as UTF-8 and bytes as they are", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("é")).toBe(sha256(Buffer.from([0xc3, 0xa9])));
  });

  it("genesis prev_hash = SHA-256('governor-ledger/v1\\n' ‖ ledger id)", () => {
    expect(genesisHash("acct-1")).toBe("1644401fb368d35c72c1c5cbf96bac0fea44cb0435be8837c467af34efd119f6");
    expect(genesisHash("_platform")).toBe("485f3fb58e6ebbbf16fdfc8adf3940328759f2b4412e74cbbc322cbeea3a65ff");
  });

  it("leafHashHex = SHA-256(0x00 ‖ JCS(body))", () => {
    expect(leafHashHex({})).toBe("28a3a18f6cd6406b086e9ffda1f9b8a13dbcf44b0f3f32cb9031a11fd053acf9");
    expect(leafHashHex({ b: [1, "é"], a: null })).toBe(sha256(Uint8Array.of(0), '{"a":null,"b":[1,"é"]}'));
  });

  it("a sealed receipt's hash is the leaf hash of its canonical body, known answer", () => {
    const r = sealReceipt(refused, ctx);
    const canonicalBody =
      '{"account_id":"acct-1","action":"noop","code":"not_permitted","duration_ms":0,"ledger":"acct-1","operation":"action_refused",' +
      '"prev_hash":"1644401fb368d35c72c1c5cbf96bac0fea44cb0435be8837c467af34efd119f6","reason":"no",' +
      '"receipt_id":"01890a5d-ac96-774b-bcce-b302099a8057","seq":0,"signal_id":"s1","status":"refused","timestamp":"2026-11-24T10:00:00.000Z","v":1}';
    expect(sha256(Uint8Array.of(0), canonicalBody)).toBe("c1e4c40020ce0dfe3cd7bee39992660dbe30208bcd15a16a68a752abf23eb8eb");
    expect(r.hash).toBe("c1e4c40020ce0dfe3cd7bee39992660dbe30208bcd15a16a68a752abf23eb8eb");
    expect(receiptHash(r)).toBe(r.hash);
    expect(Receipt.safeParse(r).success).toBe(true);
  });
});

describe("receiptHash", () => {
  it("ignores the hash field and changes with any other field", () => {
    const r = sealReceipt(refused, ctx);
    expect(receiptHash({ ...r, hash: "0".repeat(64) })).toBe(r.hash);
    const { hash: _dropped, ...body } = r;
    expect(receiptHash(body)).toBe(r.hash);
    for (const [key, value] of Object.entries(body)) {
      const tampered = { ...r, [key]: typeof value === "number" ? value + 1 : `${String(value)}x` };
      expect(receiptHash(tampered)).not.toBe(r.hash);
    }
    const extended = { ...r, extra: 1 };
    expect(receiptHash(extended)).not.toBe(r.hash);
  });
});

describe("sealReceipt", () => {
  it("writes the members in canonical (JCS) order with hash last: the stored line without its last member is the hashed text", () => {
    const draft: ReceiptDraft = {
      operation: "action_started",
      status: "pending",
      duration_ms: 0,
      signal_id: "sig-1",
      action_id: "01890a5d-ac96-774b-bcce-b302099a8058",
      action: "resize",
      handler: "http",
      params: { size: 3, flavor: "b", nested: { z: [1, { y: 2, x: 1 }], a: null } },
      deadline: "2026-11-24T10:00:00.500Z",
      timeout_ms: 500,
    };
    const { receipt: started, text } = sealReceiptText(draft, { ...ctx, seq: 7 });
    expect(Object.keys(started)).toEqual([
      "account_id", "action", "action_id", "deadline", "duration_ms", "handler", "ledger", "operation", "params",
      "prev_hash", "receipt_id", "seq", "signal_id", "status", "timeout_ms", "timestamp", "v", "hash",
    ]);
    expect(started).toMatchObject({ v: 1, seq: 7, ledger: "acct-1", account_id: "acct-1", prev_hash: ctx.prevHash });
    expect(Receipt.safeParse(started).success).toBe(true);
    const { hash, ...body } = started;
    expect(text).toBe(`${canonicalJson(body).slice(0, -1)},"hash":"${hash}"}`);
    // Nested objects too are in canonical order: the receipt's own JSON text is its stored line.
    expect(JSON.stringify(started)).toBe(text);
    expect(draft["params"]).toEqual({ size: 3, flavor: "b", nested: { z: [1, { y: 2, x: 1 }], a: null } });
    expect(Object.keys(draft["params"] as object)).toEqual(["size", "flavor", "nested"]); // the draft is not changed
    expect(receiptHash(started)).toBe(hash);
  });

  it("keeps a params member named __proto__ (as JSON.parse makes it) as a member when it puts params in canonical order", () => {
    const params = JSON.parse('{"z":1,"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const draft: ReceiptDraft = { operation: "action_queued", status: "pending", duration_ms: 0, signal_id: "sig-p", action_id: "01890a5d-ac96-774b-bcce-b302099a8058", action: "resize", handler: "http", params };
    const { receipt, text } = sealReceiptText(draft, { ...ctx, seq: 3 });
    const sealed = (receipt as unknown as { params: Record<string, unknown> }).params;
    expect(Object.keys(sealed)).toEqual(["__proto__", "z"]);
    expect(Object.getPrototypeOf(sealed)).toBe(Object.prototype);
    expect(JSON.stringify(receipt)).toBe(text);
    expect(text).toContain('"params":{"__proto__":{"polluted":true},"z":1}');
    expect(receiptHash(JSON.parse(text) as Receipt)).toBe(receipt.hash);
  });

  it("leaves out account_id when none is given (platform ledger) and draft fields set to undefined", () => {
    const r = sealReceipt(
      { operation: "escalation", status: "failure", duration_ms: 0, code: "forced_policy", reason: "forced push", signal_id: undefined },
      { ...ctx, ledger: "_platform", accountId: undefined, prevHash: genesisHash("_platform") },
    );
    expect("account_id" in r).toBe(false);
    expect("signal_id" in r).toBe(false);
    expect(Receipt.safeParse(r).success).toBe(true);
    expect(receiptHash(r)).toBe(r.hash);
  });

  it.each<[string, Partial<SealContext>, RegExp]>([
    ["a negative seq", { seq: -1 }, /seq must be a non-negative integer, got -1/],
    ["a fractional seq", { seq: 1.5 }, /seq must be a non-negative integer, got 1.5/],
    ["a timestamp without milliseconds", { timestamp: "2026-11-24T10:00:00Z" }, /timestamp must be UTC YYYY-MM-DDTHH:MM:SS.sssZ, got "2026-11-24T10:00:00Z"/],
    ["an uppercase prev hash", { prevHash: "A".repeat(64) }, /prevHash must be 64 lowercase hex digits/],
    ["a UUIDv4 receipt id", { receiptId: "0b5e0d2c-1f0a-4b6e-9a55-6f1f3f4e2a10" }, /receiptId must be a lowercase UUIDv7/],
    ["a ledger id with a slash", { ledger: "a/b" }, /ledger must be an account id or _platform, got "a\/b"/],
    ["an account id with a space", { accountId: "a b" }, /accountId must be an account id/],
  ])("refuses %s with a precise TypeError", (_what, change, message) => {
    expect(() => sealReceipt(refused, { ...ctx, ...change })).toThrow(TypeError);
    expect(() => sealReceipt(refused, { ...ctx, ...change })).toThrow(message);
  });

  it("refuses a draft that carries a field only the ledger writer sets", () => {
    for (const field of ["v", "seq", "hash", "prev_hash", "account_id", "receipt_id", "ledger", "timestamp"]) {
      const draft = { ...refused, [field]: "x" } as unknown as ReceiptDraft;
      expect(() => sealReceipt(draft, ctx)).toThrow(`the draft carries "${field}"`);
    }
  });
});

describe("hex", () => {
  it("round-trips bytes, including views into larger buffers", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(8), (bytes, pad) => {
        const big = new Uint8Array(bytes.length + 2 * pad).fill(0xee);
        big.set(bytes, pad);
        const view = big.subarray(pad, pad + bytes.length);
        const hex = bytesToHex(view);
        expect(hex).toBe(Buffer.from(bytes).toString("hex"));
        expect(hexToBytes(hex)).toEqual(bytes);
      }),
    );
  });

  it("accepts either case and says where a string is not hex", () => {
    expect(hexToBytes("0aFf")).toEqual(Uint8Array.of(0x0a, 0xff));
    expect(() => hexToBytes("abc")).toThrow("hex string has an odd number of digits (3)");
    expect(() => hexToBytes("00zz")).toThrow("hex string has a non-hex character at position 2");
    expect(() => hexToBytes("0 ")).toThrow(TypeError);
  });
});

describe("UUIDv7", () => {
  const T = Date.parse("2026-11-24T10:00:00.000Z");

  it("carries the time, version 7 and variant 0b10, and the given random bits", () => {
    const id = uuidV7(T);
    expect(id).toMatch(UUID_V7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(T);
    expect(uuidV7(T, new Uint8Array(10).fill(0xff))).toBe(`${T.toString(16).padStart(12, "0").replace(/^(.{8})/, "$1-")}-7fff-bfff-ffffffffffff`);
    expect(uuidV7(0, new Uint8Array(10))).toBe("00000000-0000-7000-8000-000000000000");
    expect(uuidV7(T + 0.9, new Uint8Array(10))).toBe(uuidV7(T, new Uint8Array(10)));
  });

  it("refuses times outside 48 bits and short random input", () => {
    expect(() => uuidV7(-1)).toThrow(RangeError);
    expect(() => uuidV7(2 ** 48)).toThrow(RangeError);
    expect(() => uuidV7(Number.NaN)).toThrow(RangeError);
    expect(() => uuidV7(T, new Uint8Array(9))).toThrow("UUIDv7 needs 10 random bytes, got 9");
  });

  it("a source makes ids that sort in creation order within a millisecond, across milliseconds, and when the clock steps back", () => {
    const times = [T, T, T, T + 1, T + 1, T - 5, T - 5, T + 2];
    let i = 0;
    const clock = () => times[Math.min(i++, times.length - 1)]!;
    const next = createUuidV7Source(clock);
    const ids = Array.from({ length: 20_000 }, next);
    for (const id of ids.slice(0, 50)) expect(id).toMatch(UUID_V7);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const ms = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    expect(ms(ids[0]!)).toBe(T);
    expect(ms(ids[3]!)).toBe(T + 1);
    expect(ms(ids[5]!)).toBe(T + 1); // the clock stepped back: the id keeps the last time
    expect(ms(ids[7]!)).toBe(T + 2);
  });

  it("two sources in the same millisecond do not collide", () => {
    const a = createUuidV7Source(() => T);
    const b = createUuidV7Source(() => T);
    const ids = new Set([...Array.from({ length: 1000 }, a), ...Array.from({ length: 1000 }, b)]);
    expect(ids.size).toBe(2000);
  });
});
