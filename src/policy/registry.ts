/**
 * Every policy version this process knows, compiled once. Versions are
 * immutable: a governor rebuilt from its ledger resolves the exact version
 * its receipts name.
 */
import type { PolicyResolver, PolicyView } from "../../governors/policy-view.ts";
import { canonicalJson } from "../ledger/canonical.ts";
import { compilePolicy } from "./compile.ts";
import type { PolicyDocument } from "./schema.ts";

/** A version number reused with different content. */
export class PolicyVersionConflictError extends Error {
  readonly code = "POLICY_VERSION_CONFLICT";
  constructor(skuId: string, version: string) {
    super(`policy ${skuId}@${version} already exists with different content; bump policy_version`);
    this.name = "PolicyVersionConflictError";
  }
}

interface Entry {
  readonly doc: PolicyDocument;
  readonly canonical: string;
  readonly view: PolicyView;
}

export class PolicyCatalog {
  readonly #versions = new Map<string, Map<string, Entry>>();
  readonly #current = new Map<string, string>();

  /** Adds a version (idempotent for identical content) and makes it current for its SKU. */
  add(doc: PolicyDocument, options: { makeCurrent?: boolean } = {}): PolicyView {
    const canonical = canonicalJson(doc);
    let versions = this.#versions.get(doc.sku_id);
    if (versions === undefined) {
      versions = new Map();
      this.#versions.set(doc.sku_id, versions);
    }
    const existing = versions.get(doc.policy_version);
    if (existing !== undefined && existing.canonical !== canonical) {
      throw new PolicyVersionConflictError(doc.sku_id, doc.policy_version);
    }
    const entry = existing ?? { doc, canonical, view: compilePolicy(doc) };
    versions.set(doc.policy_version, entry);
    if (options.makeCurrent ?? true) this.#current.set(doc.sku_id, doc.policy_version);
    return entry.view;
  }

  /** Makes a version already added the current one of its SKU; false when it is not known. */
  setCurrent(skuId: string, version: string): boolean {
    if (this.#versions.get(skuId)?.has(version) !== true) return false;
    this.#current.set(skuId, version);
    return true;
  }

  /** The canonical JSON of a version, if known. */
  canonicalOf(skuId: string, version: string): string | undefined {
    return this.#versions.get(skuId)?.get(version)?.canonical;
  }

  /** The document of a version, if known. */
  document(skuId: string, version: string): PolicyDocument | undefined {
    return this.#versions.get(skuId)?.get(version)?.doc;
  }

  /** Every known version of a SKU. */
  versions(skuId: string): string[] {
    return [...(this.#versions.get(skuId)?.keys() ?? [])];
  }

  /** The current policy of a SKU. */
  current(skuId: string): PolicyView | undefined {
    const version = this.#current.get(skuId);
    return version === undefined ? undefined : this.#versions.get(skuId)?.get(version)?.view;
  }

  currentDocument(skuId: string): PolicyDocument | undefined {
    const version = this.#current.get(skuId);
    return version === undefined ? undefined : this.#versions.get(skuId)?.get(version)?.doc;
  }

  skus(): string[] {
    return [...this.#current.keys()].sort();
  }

  readonly resolve: PolicyResolver = (skuId, version) => this.#versions.get(skuId)?.get(version)?.view;
}
