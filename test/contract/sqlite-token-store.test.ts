import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createSqliteTokenStore } from "../../src/adapters/embedded/sqlite-token-store.ts";
import { scratchDir } from "../support/service.ts";
import { describeTenantTokenStoreContract } from "./tenant-token-store.ts";

describeTenantTokenStoreContract("embedded SQLite", async () => {
  const path = join(scratchDir("governor-tokens-"), "tenant-tokens.sqlite");
  const store = createSqliteTokenStore({ path });
  const others: ReturnType<typeof createSqliteTokenStore>[] = [];
  return {
    store,
    reopen: async () => {
      const s = createSqliteTokenStore({ path });
      others.push(s);
      return s;
    },
    async cleanup() {
      await store.close();
      for (const s of others) await s.close();
    },
  };
});

describe("embedded SQLite tenant token store", () => {
  it("creates its file with mode 0600 and keeps no token in it, only digests", async () => {
    const path = join(scratchDir("governor-tokens-"), "data", "tenant-tokens.sqlite");
    const store = createSqliteTokenStore({ path });
    const secret = "govt_this-is-the-secret-that-must-not-be-stored-0123456789";
    const { createHash } = await import("node:crypto");
    await store.issue({ account: "acme", tokenId: "tk_000000000001", digest: createHash("sha256").update(secret).digest("hex"), createdAt: "2026-12-03T10:00:00.000Z" }, 10);
    await store.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path).includes(secret)).toBe(false);
  });

  it("reports a file that is not a database as unavailable, with no stack in the message", async () => {
    const path = join(scratchDir("governor-tokens-"), "tenant-tokens.sqlite");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path, "not a database ".repeat(100));
    const store = createSqliteTokenStore({ path });
    const err = await store.list("acme").catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "StoreUnavailableError", code: "LEDGER_STORE_UNAVAILABLE" });
    await store.close();
  });
});
