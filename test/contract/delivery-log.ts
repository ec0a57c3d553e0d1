/**
 * The DeliveryLog contract: every adapter (embedded SQLite, Firestore, the
 * in-memory one of hand-built runtimes) runs this same suite, unchanged. It
 * uses the port's API only.
 */
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { StoreUnavailableError, type DeliveryLog, type DeliveryOutcome } from "../../src/ports/index.ts";

export interface DeliveryLogUnderTest {
  readonly log: DeliveryLog;
  /** Another connection to the same storage: another process, or the same one after a restart. */
  readonly second: () => Promise<DeliveryLog>;
  cleanup(): Promise<void>;
}

export type DeliveryLogFactory = (options: { takeoverAfterMs: number }) => Promise<DeliveryLogUnderTest>;

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const created: DeliveryOutcome = { status: 201, body: { account_id: "acme", state: "active", receipt: { ledger: "acme", seq: 0 } } };
const refused: DeliveryOutcome = { status: 422, code: "MARKETPLACE_UNKNOWN_PLAN", message: 'SKU "demo" has no plan "gold"' };

export function describeDeliveryLogContract(name: string, factory: DeliveryLogFactory): void {
  describe(`DeliveryLog contract: ${name}`, () => {
    const opened: DeliveryLogUnderTest[] = [];
    const open = async (takeoverAfterMs = 60_000) => {
      const under = await factory({ takeoverAfterMs });
      opened.push(under);
      return under;
    };
    afterEach(async () => {
      for (const u of opened.splice(0)) await u.cleanup();
    });
    /** Ids of their own per test: the Firestore adapter's collections outlive a test. */
    const id = (label: string) => `webhook:${label}-${randomUUID()}`;

    it("claims a new id once; a repeat gets the first outcome, also from another connection", async () => {
      const { log, second } = await open();
      const d = id("first");
      expect(await log.claim({ id: d, owner: "a", now: T0 })).toEqual({ kind: "claimed", retaken: false, mark: null });
      expect(await log.get(d)).toEqual({ id: d, owner: "a", claimedAt: T0, outcome: null, completedAt: null });
      expect(await log.complete(d, "a", created, T0 + 5)).toBe(true);
      expect(await log.claim({ id: d, owner: "a", now: T0 + 10 })).toEqual({ kind: "completed", outcome: created, completedAt: T0 + 5 });
      const other = await second();
      expect(await other.claim({ id: d, owner: "b", now: T0 + 20 })).toEqual({ kind: "completed", outcome: created, completedAt: T0 + 5 });
      expect(await other.get(d)).toEqual({ id: d, owner: "a", claimedAt: T0, outcome: created, completedAt: T0 + 5 });
      await other.close();
    });

    it("keeps the first outcome: a second complete, or one by another owner, writes nothing", async () => {
      const { log } = await open();
      const d = id("once");
      await log.claim({ id: d, owner: "a", now: T0 });
      expect(await log.complete(d, "b", refused, T0 + 1)).toBe(false);
      expect(await log.complete(d, "a", refused, T0 + 2)).toBe(true);
      expect(await log.complete(d, "a", created, T0 + 3)).toBe(false);
      expect((await log.get(d))?.outcome).toEqual(refused);
      expect(await log.complete(id("never-claimed"), "a", created, T0)).toBe(false);
    });

    it("of two connections racing on one id, exactly one claims it", async () => {
      const { log, second } = await open();
      const other = await second();
      for (let round = 0; round < 5; round++) {
        const d = id(`race-${round}`);
        const results = await Promise.all([log.claim({ id: d, owner: "a", now: T0 }), other.claim({ id: d, owner: "b", now: T0 })]);
        expect(results.map((r) => r.kind).sort()).toEqual(["claimed", "in_progress"]);
      }
      await other.close();
    });

    it("takes over an unfinished claim: at once when it is the owner's own, after takeoverAfterMs when another's", async () => {
      const { log } = await open(60_000);
      const d = id("takeover");
      await log.claim({ id: d, owner: "dead", now: T0 });
      expect(await log.claim({ id: d, owner: "b", now: T0 + 59_000 })).toEqual({ kind: "in_progress", claimedAt: T0 });
      expect(await log.claim({ id: d, owner: "dead", now: T0 + 1000 })).toEqual({ kind: "claimed", retaken: true, mark: null });
      expect(await log.claim({ id: d, owner: "b", now: T0 + 61_001 })).toEqual({ kind: "claimed", retaken: true, mark: null });
      // The old owner lost it: its late outcome is not stored.
      expect(await log.complete(d, "dead", created, T0 + 61_002)).toBe(false);
      expect(await log.complete(d, "b", refused, T0 + 61_003)).toBe(true);
      expect((await log.get(d))?.outcome).toEqual(refused);
    });

    it("with takeoverAfterMs 0, any unfinished claim is taken over at once (one process owns the store)", async () => {
      const { log } = await open(0);
      const d = id("exclusive");
      await log.claim({ id: d, owner: "before-restart", now: T0 });
      expect(await log.claim({ id: d, owner: "after-restart", now: T0 })).toEqual({ kind: "claimed", retaken: true, mark: null });
    });

    it("release forgets an unfinished claim of its owner only; a completed one stays", async () => {
      const { log } = await open();
      const d = id("release");
      await log.claim({ id: d, owner: "a", now: T0 });
      await log.release(d, "b");
      expect((await log.get(d))?.owner).toBe("a");
      await log.release(d, "a");
      expect(await log.get(d)).toBeNull();
      expect(await log.claim({ id: d, owner: "b", now: T0 + 1 })).toEqual({ kind: "claimed", retaken: false, mark: null });
      await log.complete(d, "b", created, T0 + 2);
      await log.release(d, "b");
      expect((await log.get(d))?.outcome).toEqual(created);
    });

    it("an entitlement's mark moves forward with each applied event, never back, and comes with every claim that names it", async () => {
      const { log, second } = await open();
      const ent = `ent-${randomUUID()}`;
      expect(await log.mark(ent)).toBeNull();
      const newer = id("newer");
      expect(await log.claim({ id: newer, owner: "a", now: T0, entitlementId: ent })).toMatchObject({ kind: "claimed", mark: null });
      // A claim alone moves nothing: only an applied outcome does.
      expect(await log.mark(ent)).toBeNull();
      await log.complete(newer, "a", created, T0 + 1, { entitlementId: ent, eventTime: T0 + 20, eventId: "evt-20" });
      expect(await log.mark(ent)).toEqual({ eventTime: T0 + 20, eventId: "evt-20" });

      const older = id("older");
      expect(await log.claim({ id: older, owner: "a", now: T0 + 2, entitlementId: ent })).toEqual({
        kind: "claimed",
        retaken: false,
        mark: { eventTime: T0 + 20, eventId: "evt-20" },
      });
      // Applied although older (a caller's mistake), it still cannot move the mark back.
      await log.complete(older, "a", created, T0 + 3, { entitlementId: ent, eventTime: T0 + 10, eventId: "evt-10" });
      expect(await log.mark(ent)).toEqual({ eventTime: T0 + 20, eventId: "evt-20" });

      // An outcome with nothing applied leaves the mark alone.
      const same = id("same");
      expect(await log.claim({ id: same, owner: "a", now: T0 + 4 })).toMatchObject({ kind: "claimed", mark: null });
      await log.complete(same, "a", refused, T0 + 5);
      expect(await log.mark(ent)).toEqual({ eventTime: T0 + 20, eventId: "evt-20" });
      // Another entitlement has a mark of its own.
      expect(await log.claim({ id: id("other"), owner: "a", now: T0, entitlementId: `${ent}-b` })).toMatchObject({ mark: null });

      const other = await second();
      expect(await other.mark(ent)).toEqual({ eventTime: T0 + 20, eventId: "evt-20" });
      await other.close();
    });

    it("prune removes deliveries claimed before the cut, finished or not, and keeps the marks", async () => {
      const { log } = await open();
      const ent = `ent-${randomUUID()}`;
      const old = id("old");
      const oldUnfinished = id("old-unfinished");
      const recent = id("recent");
      await log.claim({ id: old, owner: "a", now: T0 - 90_000_000 });
      await log.complete(old, "a", created, T0 - 90_000_000, { entitlementId: ent, eventTime: T0 - 90_000_000, eventId: "evt-old" });
      await log.claim({ id: oldUnfinished, owner: "a", now: T0 - 90_000_000 });
      await log.claim({ id: recent, owner: "a", now: T0 });
      expect(await log.prune(T0 - 86_400_000)).toBeGreaterThanOrEqual(2);
      expect(await log.get(old)).toBeNull();
      expect(await log.get(oldUnfinished)).toBeNull();
      expect((await log.get(recent))?.claimedAt).toBe(T0);
      expect(await log.mark(ent)).toEqual({ eventTime: T0 - 90_000_000, eventId: "evt-old" });
      expect(await log.claim({ id: old, owner: "b", now: T0 })).toEqual({ kind: "claimed", retaken: false, mark: null });
    });

    it("takes ids with any character, up to 512 of them, as they are", async () => {
      const { log } = await open();
      const ids = [`webhook:a/b/../c ${randomUUID()}`, `procurement:${"é".repeat(200)}${randomUUID()}`.slice(0, 512), `webhook:__x__${randomUUID()}`];
      for (const d of ids) {
        await log.claim({ id: d, owner: "a", now: T0 });
        await log.complete(d, "a", refused, T0);
        expect(await log.get(d)).toMatchObject({ id: d, outcome: refused });
      }
    });

    it("refuses calls once closed, as unavailable", async () => {
      const { second } = await open();
      const other = await second();
      await other.close();
      await expect(other.claim({ id: id("closed"), owner: "a", now: T0 })).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });
}
