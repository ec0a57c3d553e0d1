/**
 * Driven port: every pushed policy version, kept immutable (embedded: a
 * directory; GCP: a bucket), and the key checks every registry applies:
 * SKU ids and versions become file and object names, so a name that could
 * leave its place (`..`, `/`) is never one.
 */

/** What `PolicyRegistry.put` did. */
export type PolicyPutOutcome = "created" | "unchanged" | "conflict";

/**
 * Every pushed policy version, kept immutable. A governor rebuilt from its
 * ledger resolves the exact version its receipts name, so a version once
 * stored never changes and is never removed.
 */
export interface PolicyRegistry {
  /**
   * Stores `document` (canonical JSON text) as `skuId@version`, atomically and
   * only if absent: "created"; the same bytes already there: "unchanged";
   * different bytes already there: "conflict", and nothing is written.
   */
  put(skuId: string, version: string, document: string): Promise<PolicyPutOutcome>;
  /** The stored document text, or null. */
  get(skuId: string, version: string): Promise<string | null>;
  /** Every stored version, in no particular order. */
  list(): Promise<readonly { skuId: string; version: string }[]>;
  /** Records which version is current for a SKU (the last one applied; may be lower after a forced push). */
  setCurrent(skuId: string, version: string): Promise<void>;
  /** The current version of every SKU that has one. */
  currentVersions(): Promise<ReadonlyMap<string, string>>;
}

/** A SKU id: a lowercase name (the policy schema's `sku_id`). */
export const SKU_ID_PATTERN = /^[a-z][a-z0-9_.-]{0,127}$/;
/** A policy version: MAJOR.MINOR.PATCH (the policy schema's `policy_version`). */
export const POLICY_VERSION_PATTERN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** A SKU id the policy schema accepts. */
export const isSkuId = (value: unknown): value is string => typeof value === "string" && SKU_ID_PATTERN.test(value);
/** A policy version the policy schema accepts. */
export const isPolicyVersion = (value: unknown): value is string => typeof value === "string" && POLICY_VERSION_PATTERN.test(value);

/** Throws when a SKU id or version is one the policy schema would reject: registries use them as file and object names. */
export function checkPolicyKey(sku: string, version: string): void {
  if (!SKU_ID_PATTERN.test(sku)) throw new Error(`${JSON.stringify(sku.slice(0, 64))} is not a SKU id: expected a lowercase name: letters, digits, '_', '.', '-' (max 128)`);
  if (!POLICY_VERSION_PATTERN.test(version)) throw new Error(`${JSON.stringify(version.slice(0, 64))} is not a policy version: expected a semantic version MAJOR.MINOR.PATCH, e.g. 1.4.0`);
}
