/**
 * receipts/SPEC.md is the auditors' contract: its operation table and its
 * worked example must agree with the implementation.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/ledger/canonical.ts";
import { signCheckpoint } from "../../src/ledger/checkpoint.ts";
import { genesisHash, hexToBytes, receiptHash } from "../../src/ledger/hash.ts";
import { merkleRoot } from "../../src/ledger/merkle.ts";
import { envelopeShape, operations, operationSchemas } from "../../src/ledger/receipt.ts";
import { fixtureReceipts, ORIGIN, TRUSTED } from "../fixtures/generate-archives.ts";

const spec = readFileSync(join(import.meta.dirname, "../../receipts/SPEC.md"), "utf8");

describe("receipts/SPEC.md", () => {
  it("lists every common field", () => {
    for (const field of [...Object.keys(envelopeShape), "operation"]) expect(spec).toContain(`| \`${field}\` |`);
  });

  for (const op of operations) {
    it(`documents ${op} with all its fields`, () => {
      const row = spec.split("\n").find((l) => l.startsWith(`| \`${op}\` |`));
      expect(row, `no table row for ${op}`).toBeDefined();
      for (const field of Object.keys(operationSchemas[op])) expect(row).toContain(`\`${field}\``);
    });
  }

  it("documents no operation the implementation lacks", () => {
    const section = spec.slice(spec.indexOf("### 2.1 Operations"), spec.indexOf("### 2.2"));
    const rows = section.match(/^\| `([a-z_]+)` \| `/gm) ?? [];
    expect(rows.length).toBe(operations.length);
    const named = rows.map((r) => /`([a-z_]+)`/.exec(r)![1]!);
    for (const name of named) expect(operations).toContain(name);
  });

  it("has a worked example that the implementation reproduces", () => {
    const rs = fixtureReceipts().slice(0, 3);
    expect(spec).toContain(genesisHash("acme-corp"));
    const { hash: _h, ...body } = rs[0]!;
    expect(spec).toContain(JSON.stringify(rs[0]));
    expect(spec).toContain(canonicalJson(body));
    for (const r of rs) {
      expect(receiptHash(r)).toBe(r.hash);
      expect(spec).toContain(r.hash);
    }
    const root = merkleRoot(rs.map((r) => hexToBytes(r.hash)));
    expect(spec).toContain(Buffer.from(root).toString("hex"));
    expect(spec).toContain(signCheckpoint({ origin: ORIGIN, size: 3, root }, [TRUSTED]).trimEnd());
    expect(spec).toContain(TRUSTED.verifierKey);
  });
});
