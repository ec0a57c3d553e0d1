import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe } from "vitest";
import { createDirectoryPolicyRegistry } from "../../src/adapters/embedded/fs-policy-registry.ts";
import { policyRegistryCases } from "../support/policy-registry-cases.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("policy registry: a directory", () => {
  policyRegistryCases(async () => {
    const dir = mkdtempSync(join(tmpdir(), "governor-registry-"));
    dirs.push(dir);
    return createDirectoryPolicyRegistry(dir);
  });
});
