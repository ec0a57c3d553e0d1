/**
 * The ledger store on Firestore.
 *
 * Data model (collection names under an optional prefix, so several
 * deployments or test runs can share one database):
 * - `ledgers/{ledger}`: a marker, created with the ledger's first batch and
 *   never written again (`listLedgers` lists these).
 * - `ledgers/{ledger}/receipts/{seq, 12 digits}`: one document per receipt
 *   (`body`: the receipt's JSON text exactly as appended, `seq`, `hash`),
 *   written with `create()`: a document that exists makes the write fail, so
 *   a second writer at the same seq fails instead of forking the chain. A
 *   batch is one atomic commit of creates.
 * - `ledgers/{ledger}/checkpoints/{size, 12 digits}`: the signed checkpoints.
 * - `ledgers/{ledger}/meta/snapshot`: the replay snapshot (written every
 *   10,000 receipts at most, so well under Firestore's one write per second
 *   per document).
 * - `_health/probe`: the health probe's record (written every probe interval).
 *
 * No document is written on every append: the head is not a counter but
 * the last receipt (a query on `seq`, descending, limit 1).
 *
 * A batch lands only if it continues the stored chain (see `LedgerStore`):
 * receipt `expectedSeq - 1` must exist (else the batch would leave a gap)
 * and its hash must be the batch's first `prev_hash`. Receipt documents are
 * created, never updated or deleted, so what that check finds is still true
 * when the batch commits, and the batch's `create()` at `expectedSeq` fails
 * if another writer took that seq meanwhile: the check and the commit
 * together are atomic without a transaction. This instance remembers the
 * last receipt it knows is stored per ledger (one it committed or read), so
 * a writer continuing its own chain commits in one round trip, as before;
 * only a batch that does not continue what this instance knows costs one
 * read first. (A transaction reading that document would cost the read and
 * a round trip more on every commit, and serialize the writer's commits in
 * flight behind its locks.) A commit that failed on our side (a deadline)
 * but landed is recognised when it is retried: the same documents with the
 * same bodies are a success, not a conflict.
 *
 * Every call carries its own deadline (`callTimeoutMs`, the probe its own):
 * a hung Firestore fails in seconds with `StoreUnavailableError`, not in the
 * minutes a client library may wait.
 */
import { withDeadline as callWithDeadline } from "./deadline.ts";
import { Firestore, type DocumentReference, type Settings, type WriteBatch } from "@google-cloud/firestore";
import type { LedgerId, Receipt } from "../../ledger/receipt.ts";
import {
  BatchInvalidError,
  ChainConflictError,
  SeqConflictError,
  StoreUnavailableError,
  type AppendBatch,
  type LedgerHead,
  type LedgerStore,
  type StoredCheckpoint,
  type StoredSnapshot,
} from "../../ports/index.ts";
import { genesisHash } from "../../ledger/hash.ts";

export interface FirestoreLedgerStoreOptions {
  readonly firestore: Firestore;
  /** Prefix of every collection name (e.g. a test run's own namespace). */
  readonly collectionPrefix?: string;
  /** Deadline of every call but the probe (default 5 s). */
  readonly callTimeoutMs?: number;
  /** Group commits the writer may keep under way (default 3). */
  readonly commitsInFlight?: number;
}

/**
 * A Firestore client for Governor. Google Cloud by default; the emulator when
 * FIRESTORE_EMULATOR_HOST is set (the client reads it); or the emulator at
 * `host` ("127.0.0.1:8080": plain text, owner credentials), which then takes
 * precedence over FIRESTORE_EMULATOR_HOST. gRPC unless `preferRest`: against
 * the emulator gRPC answered every call in about half the time REST took
 * (and REST there asks for Google credentials, which the emulator has no use for).
 */
export function createFirestoreClient(options: { projectId?: string; host?: string; preferRest?: boolean } = {}): Firestore {
  const settings: Settings = { ignoreUndefinedProperties: true };
  const projectId = options.projectId ?? process.env["GOOGLE_CLOUD_PROJECT"];
  if (projectId !== undefined) settings.projectId = projectId;
  if (options.preferRest !== undefined) settings.preferRest = options.preferRest;
  if (options.host === undefined) return new Firestore(settings);
  // The client prefers the variable to any host it is given, and reads it only while it is constructed.
  const saved = process.env["FIRESTORE_EMULATOR_HOST"];
  delete process.env["FIRESTORE_EMULATOR_HOST"];
  try {
    return new Firestore({ ...settings, host: options.host, ssl: false });
  } finally {
    if (saved !== undefined) process.env["FIRESTORE_EMULATOR_HOST"] = saved;
  }
}

/** Largest batch: Firestore commits at most 500 writes (the receipts, a checkpoint, the ledger marker). */
export const FIRESTORE_MAX_BATCH_RECEIPTS = 480;

/** gRPC status codes that mean "not now" rather than "never". */
const TRANSIENT = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);
const ALREADY_EXISTS = 6;

const pad = (n: number) => String(n).padStart(12, "0");

export function createFirestoreLedgerStore(options: FirestoreLedgerStoreOptions): LedgerStore & { readonly maxBatchReceipts: number; readonly commitsInFlight: number } {
  const db = options.firestore;
  const prefix = options.collectionPrefix ?? "";
  const timeoutMs = options.callTimeoutMs ?? 5000;
  const ledgers = db.collection(`${prefix}ledgers`);
  const ledgerDoc = (ledger: string) => ledgers.doc(ledger);
  const receipts = (ledger: string) => ledgerDoc(ledger).collection("receipts");
  const checkpoints = (ledger: string) => ledgerDoc(ledger).collection("checkpoints");
  const snapshotDoc = (ledger: string) => ledgerDoc(ledger).collection("meta").doc("snapshot");
  const probeDoc = db.collection(`${prefix}_health`).doc("probe");
  /** Sizes this instance knows each ledger has at least (receipts are never deleted: a lower bound stays true). */
  const knownSize = new Map<string, number>();
  /** Per ledger, a receipt this instance knows is stored (it committed it, or read it): its seq and hash, true for good. */
  const knownLast = new Map<string, { seq: number; hash: string }>();
  const remember = (ledger: string, seq: number, hash: string): void => {
    const known = knownLast.get(ledger);
    if (known === undefined || known.seq <= seq) knownLast.set(ledger, { seq, hash });
  };
  /**
   * Commits whose outcome this instance does not know (they failed or timed
   * out on our side, and may have landed): `ledger/expectedSeq` → the bodies sent.
   */
  const uncertain = new Map<string, string[]>();
  let closed = false;

  /**
   * Runs a call under a deadline; the client's own failures become
   * StoreUnavailableError where they are transient. `call.timedOut` tells the
   * work that its caller has been answered already (the work may go on).
   */
  const withDeadline = <T>(what: string, run: (call: { timedOut: boolean }) => Promise<T>, deadlineMs = timeoutMs): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailableError("the ledger store is closed"));
    return callWithDeadline(deadlineMs, `Firestore did not answer ${what} within ${deadlineMs} ms`, run, (err) => mapError(what, err));
  };

  const mapError = (what: string, err: unknown): Error => {
    if (err instanceof SeqConflictError || err instanceof BatchInvalidError || err instanceof StoreUnavailableError) return err;
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    if (typeof code === "number" && TRANSIENT.has(code)) return new StoreUnavailableError(`Firestore ${what} failed: ${message}`, { cause: err });
    if (typeof code !== "number") return new StoreUnavailableError(`Firestore ${what} failed: ${message}`, { cause: err });
    return new Error(`Firestore ${what} failed: ${message}`, { cause: err });
  };

  const head = async (ledger: string): Promise<LedgerHead> => {
    const snap = await receipts(ledger).orderBy("seq", "desc").limit(1).get();
    const doc = snap.docs[0];
    if (doc === undefined) return { size: 0, lastHash: genesisHash(ledger), lastTimestamp: null };
    const last = JSON.parse(doc.get("body") as string) as Receipt;
    knownSize.set(ledger, Math.max(knownSize.get(ledger) ?? 0, last.seq + 1));
    remember(ledger, last.seq, last.hash);
    return { size: last.seq + 1, lastHash: last.hash, lastTimestamp: last.timestamp };
  };

  const validate = (batch: AppendBatch): void => {
    const n = batch.receipts.length;
    if (n > FIRESTORE_MAX_BATCH_RECEIPTS) throw new BatchInvalidError(`a batch holds at most ${FIRESTORE_MAX_BATCH_RECEIPTS} receipts on Firestore; this one has ${n}`);
    for (const [i, r] of batch.receipts.entries()) {
      if (r.ledger !== batch.ledger) throw new BatchInvalidError(`receipt ${i} belongs to ledger ${r.ledger}, not ${batch.ledger}`);
      if (r.seq !== batch.expectedSeq + i) throw new BatchInvalidError(`receipt ${i} has seq ${r.seq}; expected ${batch.expectedSeq + i}`);
    }
    if (batch.texts !== undefined && batch.texts.length !== n) throw new BatchInvalidError(`the batch has ${n} receipts but ${batch.texts.length} texts`);
    if (batch.checkpoint !== undefined && batch.checkpoint.size !== batch.expectedSeq + n) {
      throw new BatchInvalidError(`the checkpoint covers ${batch.checkpoint.size} receipts but the ledger has ${batch.expectedSeq + n} after this batch`);
    }
  };

  /**
   * True when this batch is a retry of a commit of ours whose outcome we did
   * not learn, and that commit landed: every receipt is stored, byte for byte.
   * Anything else that finds its documents taken is a conflict.
   */
  const landedEarlier = async (batch: AppendBatch, bodies: string[], sent: string[] | undefined): Promise<boolean> => {
    if (sent === undefined || sent.length !== bodies.length || sent.some((b, i) => b !== bodies[i])) return false;
    const docs = await db.getAll(...batch.receipts.map((r) => receipts(batch.ledger).doc(pad(r.seq))));
    return docs.every((d, i) => d.exists && d.get("body") === bodies[i]);
  };

  /** Firestore writes a batch takes: its receipts, its checkpoint, and the ledger's marker with its first batch. */
  const writesOf = (b: AppendBatch) => b.receipts.length + (b.checkpoint === undefined ? 0 : 1) + (b.expectedSeq === 0 && b.receipts.length > 0 ? 1 : 0);
  const keyOf = (b: AppendBatch) => `${b.ledger}/${b.expectedSeq}`;

  /** Adds a batch's writes to a commit (the marker with the first batch, a create per receipt, the checkpoint); returns the bodies written. */
  const addBatch = (write: WriteBatch, b: AppendBatch): string[] => {
    // The writer's texts when it has them (each parses to its receipt): not serialized a second time.
    const bodies = b.texts?.slice() ?? b.receipts.map((r) => JSON.stringify(r));
    if (b.expectedSeq === 0 && b.receipts.length > 0) write.create(ledgerDoc(b.ledger), { ledger: b.ledger });
    for (const [i, r] of b.receipts.entries()) write.create(receipts(b.ledger).doc(pad(r.seq)), { seq: r.seq, hash: r.hash, body: bodies[i] });
    if (b.checkpoint !== undefined) write.set(checkpoints(b.ledger).doc(pad(b.checkpoint.size)), { ...b.checkpoint });
    return bodies;
  };

  /** A batch's commit answered: its outcome is known (unless its caller gave up first) and the ledger is at least this long. */
  const stored = (b: AppendBatch, call: { timedOut: boolean }): void => {
    // A commit that lands after its caller gave up stays "unknown" to the caller, who may retry it.
    if (!call.timedOut) uncertain.delete(keyOf(b));
    knownSize.set(b.ledger, Math.max(knownSize.get(b.ledger) ?? 0, b.expectedSeq + b.receipts.length));
    const last = b.receipts.at(-1);
    if (last !== undefined) remember(b.ledger, last.seq, last.hash);
  };

  /** The hash receipt `expectedSeq - 1` must have for the batch to continue the chain; undefined when there is nothing to check (a checkpoint-only batch without one). */
  const linkOf = (b: AppendBatch): string | undefined => b.receipts[0]?.prev_hash ?? b.prevHash;

  /** Why the batch does not link in itself (to the genesis hash, receipt to receipt), or null. */
  const ownLinkProblem = (b: AppendBatch): string | null => {
    const link = linkOf(b);
    if (b.receipts.length > 0 && b.prevHash !== undefined && b.prevHash !== link) return "its prevHash is not its first receipt's prev_hash";
    if (b.expectedSeq === 0 && link !== undefined && link !== genesisHash(b.ledger)) return "its first prev_hash is not the ledger's genesis hash";
    for (let i = 1; i < b.receipts.length; i++) {
      if (b.receipts[i]!.prev_hash !== b.receipts[i - 1]!.hash) return `receipt ${b.receipts[i]!.seq} does not link to receipt ${b.receipts[i - 1]!.seq}`;
    }
    return null;
  };

  /** True when what this instance knows shows the batch continues the stored chain, with no read. */
  const linksToKnown = (b: AppendBatch): boolean => {
    if (b.expectedSeq === 0) return true;
    const link = linkOf(b);
    const known = knownLast.get(b.ledger);
    return known !== undefined && known.seq === b.expectedSeq - 1 && (link === undefined || known.hash === link);
  };

  const chainConflict = async (b: AppendBatch, detail: string): Promise<ChainConflictError> =>
    new ChainConflictError(b.ledger, b.expectedSeq, (await head(b.ledger)).size, detail);

  /**
   * Refuses a batch that would leave a gap or does not link to the stored
   * receipt before it: null when it may be committed.
   */
  const checkLink = async (batch: AppendBatch): Promise<SeqConflictError | null> => {
    const { ledger, expectedSeq } = batch;
    const problem = ownLinkProblem(batch);
    if (problem !== null) return chainConflict(batch, problem);
    if (expectedSeq === 0 || linksToKnown(batch)) return null;
    const link = linkOf(batch);
    const known = knownLast.get(ledger);
    if (known !== undefined && known.seq === expectedSeq - 1) return chainConflict(batch, `its prev_hash ${String(link).slice(0, 16)}… is not the hash ${known.hash.slice(0, 16)}… of stored seq ${expectedSeq - 1}`);
    if (link === undefined && (knownSize.get(ledger) ?? 0) >= expectedSeq) return null;
    let prev = await receipts(ledger).doc(pad(expectedSeq - 1)).get();
    if (!prev.exists) {
      // The batch before may be landing right now (another process's, or ours from before a restart): look at the head.
      const size = (await head(ledger)).size;
      if (size < expectedSeq) return new SeqConflictError(ledger, expectedSeq, size);
      prev = await receipts(ledger).doc(pad(expectedSeq - 1)).get();
    }
    const hash = prev.get("hash") as string;
    remember(ledger, expectedSeq - 1, hash);
    if (link !== undefined && hash !== link) return chainConflict(batch, `its prev_hash ${link.slice(0, 16)}… is not the hash ${hash.slice(0, 16)}… of stored seq ${expectedSeq - 1}`);
    return null;
  };

  const appendOne = async (batch: AppendBatch, call: { timedOut: boolean }): Promise<SeqConflictError | null> => {
    validate(batch);
    const { ledger, expectedSeq } = batch;
    const refused = await checkLink(batch);
    if (refused !== null) return refused;
    const write = db.batch();
    const bodies = addBatch(write, batch);
    const key = keyOf(batch);
    const retry = uncertain.get(key);
    // Until the commit answers, its outcome is unknown (a deadline may cut it short while it lands).
    if (batch.receipts.length > 0) uncertain.set(key, bodies);
    try {
      await write.commit();
    } catch (err) {
      if ((err as { code?: unknown }).code !== ALREADY_EXISTS) throw err;
      if (retry === undefined) uncertain.delete(key);
      if (!(await landedEarlier(batch, bodies, retry))) {
        uncertain.delete(key);
        return new SeqConflictError(ledger, expectedSeq, (await head(ledger)).size);
      }
      if (batch.checkpoint !== undefined) await checkpoints(ledger).doc(pad(batch.checkpoint.size)).set({ ...batch.checkpoint });
    }
    stored(batch, call);
    return null;
  };

  /**
   * Several ledgers' batches in one Firestore commit (one round trip, and far
   * less work for Firestore than a commit each). All of them or none: if one
   * finds its documents taken, they are committed one by one instead, so only
   * that one is left out.
   */
  const appendGroup = async (group: readonly AppendBatch[], call: { timedOut: boolean }): Promise<(SeqConflictError | null)[]> => {
    for (const b of group) validate(b);
    // Any batch that this instance cannot show links, with no read, is checked (and committed) on its own.
    const unchecked = group.some((b) => !linksToKnown(b) || ownLinkProblem(b) !== null);
    if (group.length === 1 || unchecked) return Promise.all(group.map((b) => appendOne(b, call)));
    const write = db.batch();
    const prior = group.map((b) => uncertain.get(keyOf(b)));
    for (const b of group) {
      const bodies = addBatch(write, b);
      if (b.receipts.length > 0) uncertain.set(keyOf(b), bodies);
    }
    try {
      await write.commit();
    } catch (err) {
      if ((err as { code?: unknown }).code !== ALREADY_EXISTS) throw err;
      // Nothing of the group was written: what was known before stands, and each batch goes on its own.
      for (const [i, b] of group.entries()) {
        const was = prior[i];
        if (was === undefined) uncertain.delete(keyOf(b));
        else uncertain.set(keyOf(b), was);
      }
      return Promise.all(group.map((b) => appendOne(b, call)));
    }
    for (const b of group) stored(b, call);
    return group.map(() => null);
  };

  /**
   * Appends to one ledger leave this instance one after another: the next
   * waits for the one before to answer, so it never finds a gap that is only
   * a commit of ours still landing. Different ledgers go at once.
   */
  const lastAppend = new Map<string, Promise<unknown>>();
  const inOrder = <T>(ledgers: readonly string[], run: () => Promise<T>): Promise<T> => {
    const before = Promise.all(ledgers.map((l) => lastAppend.get(l) ?? Promise.resolve()));
    const mine = before.then(run, run);
    const settled = mine.catch(() => undefined);
    for (const l of ledgers) lastAppend.set(l, settled);
    void settled.then(() => {
      for (const l of ledgers) if (lastAppend.get(l) === settled) lastAppend.delete(l);
    });
    return mine;
  };

  /** Splits batches into commits of at most one batch per ledger and at most FIRESTORE_MAX_BATCH_RECEIPTS writes (plus markers and checkpoints). */
  const groupsOf = (batches: readonly AppendBatch[]): { indexes: number[]; batches: AppendBatch[] }[] => {
    const groups: { indexes: number[]; batches: AppendBatch[]; writes: number; ledgers: Set<string> }[] = [];
    for (const [i, b] of batches.entries()) {
      const w = writesOf(b);
      let g = groups.find((x) => x.writes + w <= FIRESTORE_MAX_BATCH_RECEIPTS + 20 && !x.ledgers.has(b.ledger));
      if (g === undefined) {
        g = { indexes: [], batches: [], writes: 0, ledgers: new Set() };
        groups.push(g);
      }
      g.indexes.push(i);
      g.batches.push(b);
      g.writes += w;
      g.ledgers.add(b.ledger);
    }
    return groups;
  };

  const store: LedgerStore & { readonly maxBatchReceipts: number; readonly commitsInFlight: number } = {
    maxBatchReceipts: FIRESTORE_MAX_BATCH_RECEIPTS,
    // Commits are network round trips; appends to one ledger still leave in order (appendInOrder).
    commitsInFlight: options.commitsInFlight ?? 3,
    async append(batch) {
      const conflict = await withDeadline("append", (call) => inOrder([batch.ledger], () => appendOne(batch, call)));
      if (conflict !== null) throw conflict;
    },
    appendMany(batches) {
      // Batches of different ledgers share commits; each is all-or-nothing on its own at least.
      return withDeadline("append", async (call) => {
        const out: (SeqConflictError | null)[] = Array.from({ length: batches.length }, () => null);
        await Promise.all(
          groupsOf(batches).map(async (g) => {
            const results = await inOrder(g.batches.map((b) => b.ledger), () => appendGroup(g.batches, call));
            for (const [k, i] of g.indexes.entries()) out[i] = results[k] ?? null;
          }),
        );
        return out;
      });
    },
    read(ledger, from, limit) {
      return withDeadline("read", async () => {
        if (limit <= 0) return [];
        const snap = await receipts(ledger).where("seq", ">=", from).orderBy("seq").limit(limit).get();
        return snap.docs.map((d) => JSON.parse(d.get("body") as string) as Receipt);
      });
    },
    readHashes(ledger, from = 0, to = Number.MAX_SAFE_INTEGER) {
      return withDeadline(
        "readHashes",
        async () => {
          const out: string[] = [];
          const page = 10_000;
          for (let at = from; at < to; ) {
            const snap = await receipts(ledger).where("seq", ">=", at).where("seq", "<", to).orderBy("seq").select("hash").limit(page).get();
            for (const d of snap.docs) out.push(d.get("hash") as string);
            if (snap.size < page) break;
            at += snap.size;
          }
          return out;
        },
        Math.max(timeoutMs, 60_000),
      );
    },
    head(ledger) {
      return withDeadline("head", () => head(ledger));
    },
    latestCheckpoint(ledger) {
      return withDeadline("latestCheckpoint", async () => {
        const snap = await checkpoints(ledger).orderBy("size", "desc").limit(1).get();
        const doc = snap.docs[0];
        if (doc === undefined) return null;
        return { size: doc.get("size") as number, root: doc.get("root") as string, note: doc.get("note") as string } satisfies StoredCheckpoint;
      });
    },
    listLedgers() {
      return withDeadline("listLedgers", async () => {
        const refs: DocumentReference[] = await ledgers.listDocuments();
        return refs.map((r) => r.id as LedgerId).sort();
      });
    },
    putSnapshot(ledger, snapshot) {
      return withDeadline("putSnapshot", async () => {
        await snapshotDoc(ledger).set({ seq: snapshot.seq, lastHash: snapshot.lastHash, version: snapshot.version, state: JSON.stringify(snapshot.state) });
      });
    },
    getSnapshot(ledger) {
      return withDeadline("getSnapshot", async () => {
        const doc = await snapshotDoc(ledger).get();
        if (!doc.exists) return null;
        return { seq: doc.get("seq") as number, lastHash: doc.get("lastHash") as string, version: doc.get("version") as string, state: JSON.parse(doc.get("state") as string) as unknown } satisfies StoredSnapshot;
      });
    },
    probe(deadlineMs) {
      return withDeadline(
        "probe",
        async () => {
          const at = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
          await probeDoc.set({ at });
          const back = await probeDoc.get();
          if (back.get("at") !== at) throw new StoreUnavailableError("the probe read did not return the probe write");
        },
        deadlineMs,
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      // terminate() waits for calls under way; against a hung endpoint that is forever.
      await Promise.race([db.terminate().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
  return store;
}
