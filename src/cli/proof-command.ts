/**
 * `governor proof <archive.tar.gz> --seq N [--size M]`: an RFC 9162 inclusion
 * proof a third party can check; `governor proof --check <proof.json|->` checks one.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ArchiveUnreadableError, readArchive } from "../ledger/archive.ts";
import { hexToBytes } from "../ledger/hash.ts";
import { inclusionProof, merkleRoot, verifyInclusion } from "../ledger/merkle.ts";

export const summary = "print an RFC 9162 inclusion proof from an archive, or --check one";

const usage = "usage: governor proof <archive.tar.gz> --seq N [--size M]\n       governor proof --check <proof.json | ->";

const Proof = z.object({
  leaf_index: z.number().int().min(0),
  tree_size: z.number().int().min(1),
  leaf_hash: z.string().regex(/^[0-9a-f]{64}$/),
  root: z.string(),
  hashes: z.array(z.string()),
});

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { seq: { type: "string" }, size: { type: "string" }, check: { type: "string" } } });
  } catch (err) {
    process.stderr.write(`governor proof: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  if (parsed.values.check !== undefined) return check(parsed.values.check);
  const [archive] = parsed.positionals;
  const seq = parsed.values.seq === undefined ? Number.NaN : Number(parsed.values.seq);
  if (archive === undefined || !Number.isSafeInteger(seq) || seq < 0) {
    process.stderr.write(`governor proof: name an archive and --seq (a non-negative integer)\n${usage}\n`);
    return 2;
  }
  const leaves: Uint8Array[] = [];
  let bad = null as string | null;
  let members;
  try {
    members = await readArchive(archive, {
      onLines(lines, first) {
        for (const [i, line] of lines.entries()) {
          try {
            leaves.push(hexToBytes((JSON.parse(line) as { hash: string }).hash));
          } catch {
            bad ??= `line ${first + i} has no usable hash; run governor verify on the archive first`;
          }
        }
      },
      onOversizedLine(line) {
        bad ??= `line ${line} is over the line limit`;
      },
    });
  } catch (err) {
    process.stderr.write(`governor proof: ${err instanceof ArchiveUnreadableError ? err.message : (err as Error).message}\n`);
    return 2;
  }
  if (bad !== null) {
    process.stderr.write(`governor proof: ${bad}\n`);
    return 2;
  }
  const size = parsed.values.size === undefined ? leaves.length : Number(parsed.values.size);
  if (!Number.isSafeInteger(size) || size < 1 || size > leaves.length) {
    process.stderr.write(`governor proof: --size must be between 1 and ${leaves.length}\n`);
    return 2;
  }
  if (seq >= size) {
    process.stderr.write(`governor proof: seq ${seq} is not in a tree of size ${size}\n`);
    return 2;
  }
  const proof = {
    leaf_index: seq,
    tree_size: size,
    leaf_hash: Buffer.from(leaves[seq]!).toString("hex"),
    root: Buffer.from(merkleRoot(leaves.slice(0, size))).toString("base64"),
    hashes: inclusionProof(leaves, seq, size).map((h) => Buffer.from(h).toString("base64")),
    checkpoint: size === leaves.length ? members.checkpoint : null,
  };
  process.stdout.write(`${JSON.stringify(proof, null, 2)}\n`);
  return 0;
}

function check(source: string): number {
  let text: string;
  try {
    text = readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (err) {
    process.stderr.write(`governor proof: cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 2;
  }
  let proof: z.infer<typeof Proof>;
  try {
    proof = Proof.parse(JSON.parse(text));
  } catch (err) {
    process.stderr.write(`governor proof: not a proof: ${err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") : (err as Error).message}\n`);
    return 2;
  }
  const b64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
  const ok = verifyInclusion(proof.leaf_index, proof.tree_size, hexToBytes(proof.leaf_hash), proof.hashes.map(b64), b64(proof.root));
  process.stdout.write(ok ? `valid: leaf ${proof.leaf_index} is in the tree of size ${proof.tree_size} with root ${proof.root}\n` : "invalid: the proof does not lead to the root\n");
  return ok ? 0 : 1;
}
