/**
 * Offline verification of a 1,000,000-receipt archive against a bare loop that
 * only canonicalizes and hashes the same receipts (already parsed), both
 * measured in this run.
 */
import { createReadStream, openSync, writeSync, closeSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { packArchive } from "../src/ledger/archive.ts";
import { canonicalJson } from "../src/ledger/canonical.ts";
import { signCheckpoint, signerKeyFromSeed, parseVerifierKey } from "../src/ledger/checkpoint.ts";
import { genesisHash, hexToBytes, sealReceipt, uuidV7 } from "../src/ledger/hash.ts";
import { MerkleFrontier } from "../src/ledger/merkle.ts";
import type { ReceiptDraft } from "../src/ledger/receipt.ts";
import { verifyArchive } from "../src/ledger/verify.ts";
import { createHash } from "node:crypto";
import { atLeast, median, type BenchOptions, type Figure } from "./harness.ts";

const key = signerKeyFromSeed("bench", new Uint8Array(32).fill(9));

/** Realistic receipts: the start and completion of actions with small params. */
function draft(seq: number): ReceiptDraft {
  const pair = Math.floor(seq / 2);
  const actionId = uuidV7(1_795_000_000_000 + pair, new Uint8Array(10).fill(pair & 0xff));
  return seq % 2 === 0
    ? { operation: "action_started", status: "pending", duration_ms: 0, signal_id: `sig-${pair}`, action_id: actionId, action: "deploy", handler: "http", params: { service: "checkout", version: `v${pair % 97}.${pair % 13}`, canary_percent: pair % 100 }, deadline: new Date(1_795_000_000_000 + seq + 500).toISOString(), timeout_ms: 500 }
    : { operation: "action_complete", status: "success", duration_ms: 12, signal_id: `sig-${pair}`, action_id: actionId, action: "deploy", result_sha256: "ab".repeat(32) };
}

function buildArchive(dir: string, size: number): string {
  mkdirSync(dir, { recursive: true });
  const ledger = "bench-tenant";
  const frontier = new MerkleFrontier();
  const fd = openSync(join(dir, "receipts.jsonl"), "w");
  let prev = genesisHash(ledger);
  let chunk = "";
  for (let seq = 0; seq < size; seq++) {
    const r = sealReceipt(draft(seq), { ledger, seq, prevHash: prev, timestamp: new Date(1_795_000_000_000 + seq).toISOString(), receiptId: uuidV7(1_795_000_000_000 + seq), accountId: ledger });
    prev = r.hash;
    frontier.push(hexToBytes(r.hash));
    chunk += `${JSON.stringify(r)}\n`;
    if (chunk.length > 1 << 20) {
      writeSync(fd, chunk);
      chunk = "";
    }
  }
  writeSync(fd, chunk);
  closeSync(fd);
  const origin = `bench.governor/${ledger}`;
  const root = frontier.root();
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ format: "governor-ledger-archive/v1", ledger, origin, size, root: Buffer.from(root).toString("base64") }));
  writeFileSync(join(dir, "checkpoint"), signCheckpoint({ origin, size, root }, [key]));
  writeFileSync(join(dir, "keys"), `${key.verifierKey}\n`);
  return join(dir, "receipts.jsonl");
}

/** The bare loop: canonicalize + SHA-256 of each receipt body; parsing is done outside the timed part. */
async function bareRate(jsonl: string): Promise<number> {
  let timed = 0;
  let count = 0;
  let batch: Record<string, unknown>[] = [];
  const run = () => {
    const t0 = performance.now();
    for (const r of batch) {
      const { hash: _h, ...body } = r;
      createHash("sha256").update(Buffer.from([0])).update(canonicalJson(body)).digest("hex");
    }
    timed += performance.now() - t0;
    count += batch.length;
    batch = [];
  };
  for await (const line of createInterface({ input: createReadStream(jsonl) })) {
    batch.push(JSON.parse(line) as Record<string, unknown>);
    if (batch.length === 20_000) run();
  }
  run();
  return (count / timed) * 1000;
}

export async function run(options: BenchOptions): Promise<Figure[]> {
  const size = options.quick ? 100_000 : 1_000_000;
  const dir = join(options.scratch, "archive");
  const jsonl = buildArchive(dir, size);
  const archive = join(options.scratch, "ledger.tar.gz");
  await packArchive(dir, archive);
  const trusted = [parseVerifierKey(key.verifierKey)];
  const bare: number[] = [];
  const full: number[] = [];
  for (let i = 0; i < 3; i++) {
    bare.push(await bareRate(jsonl));
    const t0 = performance.now();
    const report = await verifyArchive(archive, { trustedKeys: trusted });
    full.push((size / (performance.now() - t0)) * 1000);
    if (!report.valid) throw new Error(`bench archive did not verify: ${report.errors[0]?.message}`);
  }
  const b = median(bare);
  return [
    atLeast(
      `verify ${size.toLocaleString("en-US")}-receipt archive (gunzip, untar, parse, schema, hash, chain, Merkle, signature)`,
      median(full),
      "receipts/s",
      0.7 * b,
      `>= 0.7x bare canonicalize+hash loop (${Math.round(b).toLocaleString("en-US")}/s)`,
    ),
  ];
}
