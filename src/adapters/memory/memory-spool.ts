/**
 * A spool in memory, for tests of the safe-mode switch. "Durable" here means
 * kept in the storage object: a spool opened again on the same storage (a
 * restarted process) reads what the last one appended.
 */
import type { Spool, SpoolEntry } from "../../ports/index.ts";

export interface MemorySpoolStorage {
  entries: SpoolEntry[];
}

export function createMemorySpool(storage: MemorySpoolStorage = { entries: [] }): Spool & { failing: boolean } {
  let count = 0;
  const spool = {
    path: "memory:spool",
    failing: false,
    get count() {
      return count;
    },
    async append(entries: readonly SpoolEntry[]) {
      if (spool.failing) throw new Error("memory spool is failing (test)");
      storage.entries.push(...entries.map((e) => structuredClone(e)));
      count += entries.length;
    },
    async readAll() {
      return storage.entries.map((e) => structuredClone(e));
    },
    async clear() {
      storage.entries = [];
      count = 0;
    },
    async close() {},
  };
  return spool;
}
