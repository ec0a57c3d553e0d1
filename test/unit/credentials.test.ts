/** credentials.json: no shared tenant token is generated; an older file that has one still loads, the token ignored. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadCredentials, scopeOfToken } from "../../src/credentials.ts";
import { scratchDir } from "../support/service.ts";

describe("credentials", () => {
  it("generates platform tokens only: no shared tenant token", () => {
    const dir = scratchDir("governor-cred-");
    const creds = loadCredentials(dir, {});
    expect(creds.generated).toBe(true);
    const file = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as { tokens: Record<string, string> };
    expect(Object.keys(file.tokens).sort()).toEqual(["admin", "auditor", "gitops", "operator"]);
    expect([...creds.tokens.keys()].sort()).toEqual(["admin", "auditor", "gitops", "operator"]);
    expect(creds.warnings).toEqual([]);
  });

  it("loads a file that still holds a shared tenant token, ignores that token and says so (never what it is)", () => {
    const dir = scratchDir("governor-cred-");
    loadCredentials(dir, {});
    const path = join(dir, "credentials.json");
    const file = JSON.parse(readFileSync(path, "utf8")) as { tokens: Record<string, string> };
    const shared = "gov_tenant_the-old-shared-token-0123456789";
    writeFileSync(path, JSON.stringify({ ...file, tokens: { ...file.tokens, tenant: shared } }), { mode: 0o600 });
    const creds = loadCredentials(dir, { GOVERNOR_TENANT_TOKEN: "gov_tenant_from-the-environment-0123" });
    expect(creds.generated).toBe(false);
    expect(scopeOfToken(creds, shared)).toBeNull();
    expect(scopeOfToken(creds, "gov_tenant_from-the-environment-0123")).toBeNull();
    expect(scopeOfToken(creds, file.tokens["admin"]!)).toBe("admin");
    expect(creds.warnings).toHaveLength(2);
    expect(creds.warnings.join("\n")).toMatch(/"tenant" token; it is ignored/);
    expect(creds.warnings.join("\n")).toMatch(/GOVERNOR_TENANT_TOKEN is set and ignored/);
    expect(creds.warnings.join("\n")).not.toContain(shared);
  });
});
