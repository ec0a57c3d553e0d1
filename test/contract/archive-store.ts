/**
 * The ArchiveStore contract: every adapter (memory, a directory, a Cloud
 * Storage bucket) runs this same suite through the port's API only.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ArchiveStore } from "../../src/ports/index.ts";

export function describeArchiveStoreContract(name: string, fresh: () => Promise<ArchiveStore>): void {
  describe(`ArchiveStore contract: ${name}`, () => {
    it("stores an archive and reads back the same bytes, with their count and a URI that names it", async () => {
      const store = await fresh();
      const data = new Uint8Array(randomBytes(70_000));
      const put = await store.put("acme-12-1764000000000.tar.gz", data);
      expect(put.bytes).toBe(70_000);
      expect(put.uri).toContain("acme-12-1764000000000.tar.gz");
      expect(Buffer.from((await store.get("acme-12-1764000000000.tar.gz"))!)).toEqual(Buffer.from(data));
    });

    it("has no archive under a name never stored", async () => {
      const store = await fresh();
      expect(await store.get("nothing-here.tar.gz")).toBeNull();
    });

    it("takes the same bytes under the same name again (a retried decommission)", async () => {
      const store = await fresh();
      const data = new Uint8Array(randomBytes(1000));
      await store.put("retried.tar.gz", data);
      await expect(store.put("retried.tar.gz", data)).resolves.toMatchObject({ bytes: 1000 });
      expect(Buffer.from((await store.get("retried.tar.gz"))!)).toEqual(Buffer.from(data));
    });

    it("keeps an empty archive apart from none", async () => {
      const store = await fresh();
      await store.put("empty.tar.gz", new Uint8Array(0));
      expect(await store.get("empty.tar.gz")).toEqual(new Uint8Array(0));
    });

    it("refuses names that are not plain file names, and stores nothing", async () => {
      const store = await fresh();
      for (const bad of ["", "../escape.tar.gz", "a/b.tar.gz", ".hidden", "x\u0000y"]) {
        const refused = await store.put(bad, new Uint8Array([1])).then(() => `${JSON.stringify(bad)} accepted`, (err: unknown) => String(err));
        expect(refused).toMatch(/plain file name/);
      }
      expect(await store.get("escape.tar.gz")).toBeNull();
    });
  });
}
