/**
 * The marketplace delivery log on Firestore, beside the ledgers (collection
 * names under the same prefix):
 * - `marketplace_deliveries/{sha256(id)}`: one document per delivery id
 *   (`id`, `owner`, `claimedAt`, then `outcome`, JSON text, and
 *   `completedAt`). `expireAt` is when `prune` may remove it; a Firestore TTL
 *   policy on that field does the same without a prune.
 * - `marketplace_entitlements/{sha256(entitlement id)}`: the time of the
 *   newest event applied to the entitlement (`eventTime`, `eventId`). Never removed.
 *
 * Ids are hashed into document ids: a webhook id or an event id may hold any
 * character, and a document id may not hold a "/".
 *
 * A claim creates the delivery's document (`create()` fails if it exists, so
 * of two instances racing on one id exactly one wins; the loser reads the
 * winner's claim), or takes an unfinished one over with an update
 * conditional on the version it read; then it reads the entitlement's mark.
 * `complete` is one transaction that writes the outcome and moves the mark
 * (forward only). Every call carries a
 * deadline and fails with `StoreUnavailableError`, as the ledger store's do.
 *
 * Several instances share one database, so another instance's unfinished
 * claim is left alone for `takeoverAfterMs` (default 10 minutes: longer
 * than a cancel's drain and archive) before it is taken over.
 */
import { withDeadline as callWithDeadline } from "./deadline.ts";
import { createHash } from "node:crypto";
import { Timestamp, type Firestore } from "@google-cloud/firestore";
import { StoreUnavailableError, type DeliveryClaim, type DeliveryClaimResult, type DeliveryLog, type DeliveryOutcome, type DeliveryRecord, type EntitlementMark } from "../../ports/index.ts";

export interface FirestoreDeliveryLogOptions {
  /** The client (the ledger store's; closing the log does not terminate it). */
  readonly firestore: Firestore;
  /** Prefix of the collection names (the ledger store's). */
  readonly collectionPrefix?: string;
  /** Deadline of every call (default 5 s). */
  readonly callTimeoutMs?: number;
  /** See `DeliveryLog.takeoverAfterMs` (default 10 minutes). */
  readonly takeoverAfterMs?: number;
  /** How long `expireAt` lies after the claim (default 24 h); `prune` is what removes documents. */
  readonly retentionMs?: number;
}

const ALREADY_EXISTS = 6;
/** Documents removed per prune commit (Firestore commits at most 500 writes). */
const PRUNE_PAGE = 400;

const docId = (id: string) => createHash("sha256").update(id).digest("hex");

export function createFirestoreDeliveryLog(options: FirestoreDeliveryLogOptions): DeliveryLog {
  const db = options.firestore;
  const prefix = options.collectionPrefix ?? "";
  const timeoutMs = options.callTimeoutMs ?? 5000;
  const retentionMs = options.retentionMs ?? 24 * 3600_000;
  const deliveries = db.collection(`${prefix}marketplace_deliveries`);
  const marks = db.collection(`${prefix}marketplace_entitlements`);
  let closed = false;

  const withDeadline = <T>(what: string, run: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailableError("the delivery log is closed"));
    return callWithDeadline(timeoutMs, `Firestore did not answer the delivery log's ${what} within ${timeoutMs} ms`, run, (err) => {
      const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
      return err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`Firestore delivery log ${what} failed: ${message}`, { cause: err });
    });
  };

  const outcomeOf = (text: unknown): DeliveryOutcome | null => (typeof text === "string" ? (JSON.parse(text) as DeliveryOutcome) : null);

  const FAILED_PRECONDITION = 9;
  const NOT_FOUND = 5;

  const markOf = async (entitlementId: string): Promise<EntitlementMark | null> => {
    const snap = await marks.doc(docId(entitlementId)).get();
    return snap.exists ? { eventTime: snap.get("eventTime") as number, eventId: snap.get("eventId") as string } : null;
  };

  /**
   * Creates the delivery's document, or finds it and takes it over when it may
   * (an update conditional on the version read): no transaction, so claims
   * of different ids never wait on each other, and of one id exactly one wins.
   */
  const claimDelivery = async (c: DeliveryClaim): Promise<DeliveryClaimResult | { kind: "ours"; retaken: boolean }> => {
    const ref = deliveries.doc(docId(c.id));
    const fields = { owner: c.owner, claimedAt: c.now, expireAt: Timestamp.fromMillis(c.now + retentionMs) };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await ref.create({ id: c.id, ...fields, outcome: null, completedAt: null });
        return { kind: "ours", retaken: false };
      } catch (err) {
        if ((err as { code?: unknown }).code !== ALREADY_EXISTS) throw err;
      }
      const snap = await ref.get();
      if (!snap.exists) continue;
      const outcome = outcomeOf(snap.get("outcome"));
      const claimedAt = snap.get("claimedAt") as number;
      if (outcome !== null) return { kind: "completed", outcome, completedAt: (snap.get("completedAt") as number | null | undefined) ?? claimedAt };
      if (snap.get("owner") !== c.owner && claimedAt > c.now - log.takeoverAfterMs) return { kind: "in_progress", claimedAt };
      try {
        await ref.update(fields, { lastUpdateTime: snap.updateTime! });
        return { kind: "ours", retaken: true };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code !== FAILED_PRECONDITION && code !== NOT_FOUND) throw err;
      }
    }
    throw new StoreUnavailableError(`the delivery ${c.id.slice(0, 64)} kept changing while it was claimed; try again`);
  };

  const log: DeliveryLog = {
    takeoverAfterMs: options.takeoverAfterMs ?? 10 * 60_000,

    claim(c) {
      return withDeadline("claim", async (): Promise<DeliveryClaimResult> => {
        const claimed = await claimDelivery(c);
        if (claimed.kind !== "ours") return claimed;
        // Marks move only when an outcome is stored, and the events of one entitlement are handled one at a time.
        return { kind: "claimed", retaken: claimed.retaken, mark: c.entitlementId === undefined ? null : await markOf(c.entitlementId) };
      });
    },

    complete(id, owner, outcome, now, applied) {
      return withDeadline("complete", () =>
        db.runTransaction(async (tx) => {
          const ref = deliveries.doc(docId(id));
          const markRef = applied === undefined ? null : marks.doc(docId(applied.entitlementId));
          const [snap, markSnap] = await tx.getAll(ref, ...(markRef === null ? [] : [markRef]));
          if (!snap!.exists || snap!.get("owner") !== owner || typeof snap!.get("outcome") === "string") return false;
          tx.update(ref, { outcome: JSON.stringify(outcome), completedAt: now });
          if (applied !== undefined && markRef !== null && !(markSnap?.exists && (markSnap.get("eventTime") as number) > applied.eventTime)) {
            tx.set(markRef, { entitlementId: applied.entitlementId, eventTime: applied.eventTime, eventId: applied.eventId });
          }
          return true;
        }),
      );
    },

    release(id, owner) {
      return withDeadline("release", () =>
        db.runTransaction(async (tx) => {
          const ref = deliveries.doc(docId(id));
          const snap = await tx.get(ref);
          if (snap.exists && snap.get("owner") === owner && typeof snap.get("outcome") !== "string") tx.delete(ref);
        }),
      );
    },

    get(id) {
      return withDeadline("get", async (): Promise<DeliveryRecord | null> => {
        const snap = await deliveries.doc(docId(id)).get();
        if (!snap.exists) return null;
        return {
          id: snap.get("id") as string,
          owner: snap.get("owner") as string,
          claimedAt: snap.get("claimedAt") as number,
          outcome: outcomeOf(snap.get("outcome")),
          completedAt: (snap.get("completedAt") as number | null | undefined) ?? null,
        };
      });
    },

    mark(entitlementId) {
      return withDeadline("mark", () => markOf(entitlementId));
    },

    prune(before) {
      return withDeadline("prune", async () => {
        let removed = 0;
        // A bounded pass: what is left goes at the next prune.
        for (let page = 0; page < 10; page++) {
          const old = await deliveries.where("claimedAt", "<", before).limit(PRUNE_PAGE).get();
          if (old.empty) break;
          const batch = db.batch();
          for (const d of old.docs) batch.delete(d.ref);
          await batch.commit();
          removed += old.size;
          if (old.size < PRUNE_PAGE) break;
        }
        return removed;
      });
    },

    close() {
      closed = true;
      return Promise.resolve();
    },
  };
  return log;
}
