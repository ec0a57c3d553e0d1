/** Archives in memory, for tests: an archive once stored is kept as it was, as the bucket keeps it. */
import type { ArchiveStore } from "../../ports/index.ts";

const safeName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

export function createMemoryArchiveStore(): ArchiveStore & { readonly archives: ReadonlyMap<string, Uint8Array> } {
  const archives = new Map<string, Uint8Array>();
  const check = (name: string) => {
    if (!safeName.test(name)) throw new Error(`archive name ${JSON.stringify(name.slice(0, 64))} is not a plain file name`);
  };
  return {
    archives,
    async put(name, data) {
      check(name);
      const stored = archives.get(name);
      if (stored !== undefined && Buffer.compare(stored, data) !== 0) throw new Error(`archive ${name} exists with other bytes`);
      archives.set(name, new Uint8Array(data));
      return { uri: `memory://archives/${name}`, bytes: data.byteLength };
    },
    async get(name) {
      check(name);
      const stored = archives.get(name);
      return stored === undefined ? null : new Uint8Array(stored);
    },
  };
}
