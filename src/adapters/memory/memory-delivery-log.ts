/**
 * A delivery log in memory: what a runtime built by hand (a test, a
 * benchmark) uses when it is given none. Nothing survives the process, so
 * the backends always pass a durable one (`createSqliteDeliveryLog`,
 * `createFirestoreDeliveryLog`); it passes the same contract suite.
 */
import { StoreUnavailableError, type DeliveryLog, type DeliveryOutcome, type DeliveryRecord, type EntitlementMark } from "../../ports/index.ts";

/** What a memory log holds; two logs given the same one see the same deliveries (as two connections would). */
export interface MemoryDeliveryStorage {
  readonly deliveries: Map<string, { owner: string; claimedAt: number; outcome: string | null; completedAt: number | null }>;
  readonly marks: Map<string, EntitlementMark>;
}

export function createMemoryDeliveryLog(options: { takeoverAfterMs?: number; storage?: MemoryDeliveryStorage } = {}): DeliveryLog & { readonly storage: MemoryDeliveryStorage } {
  const storage: MemoryDeliveryStorage = options.storage ?? { deliveries: new Map(), marks: new Map() };
  const { deliveries, marks } = storage;
  let closed = false;
  const live = () => {
    if (closed) throw new StoreUnavailableError("the delivery log is closed");
  };
  const log: DeliveryLog & { readonly storage: MemoryDeliveryStorage } = {
    storage,
    takeoverAfterMs: options.takeoverAfterMs ?? 0,
    async claim(c) {
      live();
      const row = deliveries.get(c.id);
      if (row !== undefined && row.outcome !== null) return { kind: "completed", outcome: JSON.parse(row.outcome) as DeliveryOutcome, completedAt: row.completedAt ?? row.claimedAt };
      if (row !== undefined && row.owner !== c.owner && row.claimedAt > c.now - log.takeoverAfterMs) return { kind: "in_progress", claimedAt: row.claimedAt };
      deliveries.set(c.id, { owner: c.owner, claimedAt: c.now, outcome: null, completedAt: null });
      return { kind: "claimed", retaken: row !== undefined, mark: c.entitlementId === undefined ? null : (marks.get(c.entitlementId) ?? null) };
    },
    async complete(id, owner, outcome, now, applied) {
      live();
      const row = deliveries.get(id);
      if (row === undefined || row.owner !== owner || row.outcome !== null) return false;
      row.outcome = JSON.stringify(outcome);
      row.completedAt = now;
      const mark = applied === undefined ? undefined : marks.get(applied.entitlementId);
      if (applied !== undefined && (mark === undefined || mark.eventTime <= applied.eventTime)) {
        marks.set(applied.entitlementId, { eventTime: applied.eventTime, eventId: applied.eventId });
      }
      return true;
    },
    async release(id, owner) {
      live();
      const row = deliveries.get(id);
      if (row !== undefined && row.owner === owner && row.outcome === null) deliveries.delete(id);
    },
    async get(id): Promise<DeliveryRecord | null> {
      live();
      const row = deliveries.get(id);
      if (row === undefined) return null;
      return { id, owner: row.owner, claimedAt: row.claimedAt, outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as DeliveryOutcome), completedAt: row.completedAt };
    },
    async mark(entitlementId) {
      live();
      return marks.get(entitlementId) ?? null;
    },
    async prune(before) {
      live();
      let removed = 0;
      for (const [id, row] of deliveries) {
        if (row.claimedAt < before) {
          deliveries.delete(id);
          removed++;
        }
      }
      return removed;
    },
    async close() {
      closed = true;
    },
  };
  return log;
}
