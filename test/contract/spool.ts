/**
 * The Spool contract: every adapter (a local file, memory) runs this same
 * suite. `fresh()` makes an empty place and a way to open a spool on it;
 * opening it again is a restarted process.
 */
import { describe, expect, it } from "vitest";
import type { LedgerId } from "../../src/ledger/receipt.ts";
import type { Spool, SpoolEntry } from "../../src/ports/index.ts";
import { chain } from "./ledger-store.ts";

export interface SpoolUnderTest {
  open(): Spool;
  cleanup(): Promise<void>;
}

const entries = (ledger: string, n: number): SpoolEntry[] => chain(ledger, n).map((receipt) => ({ ledger: ledger as LedgerId, receipt }));

export function describeSpoolContract(name: string, fresh: () => Promise<SpoolUnderTest>): void {
  describe(`Spool contract: ${name}`, () => {
    const using = async (run: (t: SpoolUnderTest) => Promise<void>) => {
      const t = await fresh();
      try {
        await run(t);
      } finally {
        await t.cleanup();
      }
    };

    it("an empty spool reads nothing and counts nothing", () =>
      using(async (t) => {
        const spool = t.open();
        expect(await spool.readAll()).toEqual([]);
        expect(spool.count).toBe(0);
        expect(spool.path).not.toBe("");
        await spool.close();
      }));

    it("reads back every entry appended, in the order appended, interleaved ledgers included", () =>
      using(async (t) => {
        const spool = t.open();
        const a = entries("acme", 3);
        const b = entries("beta", 2);
        await spool.append([a[0]!, b[0]!]);
        await spool.append([]);
        await spool.append([a[1]!, a[2]!, b[1]!]);
        expect(await spool.readAll()).toEqual([a[0], b[0], a[1], a[2], b[1]]);
        expect(spool.count).toBe(5);
        await spool.close();
      }));

    it("keeps what was appended for the next process, which counts only its own", () =>
      using(async (t) => {
        const first = t.open();
        const a = entries("acme", 4);
        await first.append(a.slice(0, 2));
        await first.close();
        const second = t.open();
        expect(await second.readAll()).toEqual(a.slice(0, 2));
        expect(second.count).toBe(0);
        await second.append(a.slice(2));
        expect(await second.readAll()).toEqual(a);
        await second.close();
      }));

    it("is empty once cleared, for this process and the next", () =>
      using(async (t) => {
        const spool = t.open();
        await spool.append(entries("acme", 3));
        await spool.clear();
        expect(await spool.readAll()).toEqual([]);
        expect(spool.count).toBe(0);
        const more = entries("beta", 1);
        await spool.append(more);
        await spool.close();
        const next = t.open();
        expect(await next.readAll()).toEqual(more);
        await next.clear();
        await next.close();
        expect(await t.open().readAll()).toEqual([]);
      }));
  });
}
