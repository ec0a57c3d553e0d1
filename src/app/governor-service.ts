/**
 * What the ingress asks of Governor: the HTTP routes and the Pub/Sub
 * consumers go through this interface alone, as application-level
 * operations, and never reach the runtime's parts (host, store, writer).
 *
 * Business refusals come back as values (a reply, an outcome, a result kind);
 * the ingress turns them into status codes or ack/nack.
 */
import type { Readable } from "node:stream";
import type { LedgerId, Receipt } from "../ledger/receipt.ts";
import type { PushOptions, PushResult } from "../policy/rollout.ts";
import type { SignalInput } from "./governors.ts";
import type { IntakeReply } from "./signal-intake.ts";
import type { GovernorStatus } from "./status.ts";
import { ProcurementNotification, type SweepResult } from "./google-marketplace.ts";
import { MarketplaceEvent, type MarketplaceDelivery, type MarketplaceOutcome } from "./marketplace.ts";
import type { SignupOutcome } from "./signup.ts";

/** The schema of a marketplace event: the ingress validates a delivery's body with it. */
export { MarketplaceEvent };
/** The schema of a Google Cloud Marketplace procurement notification. */
export { ProcurementNotification };
export type { SweepResult };
/** How an answer names a receipt: enough to fetch it and check it. */
export { ref as receiptRef } from "./marketplace.ts";
/** The largest policy document taken (bytes). */
export { MAX_POLICY_BYTES } from "../policy/schema.ts";
export type { MarketplaceDelivery, MarketplaceOutcome, PushOptions as PolicyPushOptions, PushResult as PolicyPushResult };

/** A tenant's signal, decoded and within its schema. */
export type { SignalInput };

/** Why a signal cannot be taken now (no receipt): the governor's own reasons and intake's. */
export type { Unavailable } from "../../governors/decision.ts";

/**
 * The answer to the sender of a signal: the governor's, or intake's when it
 * takes nothing (`not_accepting`: starting or stopping; `unknown_tenant`: no
 * governor here). See signal-intake.ts.
 */
export type SignalReply = IntakeReply;

/** A tenant's lifecycle state, or `quarantined` while it is out of service. */
export type TenantState = GovernorStatus["state"];

/** What an operator may see of a tenant: no business data. */
export type TenantStatus = GovernorStatus;

/** An operator's scale request, decided: the tenant's state, and the receipt (null: nothing to change). */
export interface ScaleResult {
  readonly state: TenantState;
  /** The concurrency before the request. */
  readonly before: number | undefined;
  readonly receipt: Receipt | null;
}

/** Who changes a tenant's tokens through the API. */
export type TokenActor = "admin" | "operator";

/** A token just issued: the only time its secret is seen. */
export interface IssuedToken {
  readonly tokenId: string;
  readonly token: string;
  readonly createdAt: string;
  readonly receipt: Receipt;
}

/** A tenant's active tokens, as listed: no secret, no hash. */
export interface TokenList {
  readonly maxActive: number;
  readonly tokens: readonly { readonly tokenId: string; readonly createdAt: string; readonly lastUsedAt: string | null }[];
}

/** One SKU's policy as the API lists it. */
export interface PolicySummary {
  readonly sku_id: string;
  readonly policy_version: string | null;
  readonly versions: readonly string[];
}

/** One page of a ledger, with the ledger's durable size. */
export interface ReceiptPage {
  readonly receipts: readonly Receipt[];
  readonly size: number;
}

/** A ledger's latest signed checkpoint. */
export interface CheckpointView {
  readonly size: number;
  readonly note: string;
}

/** An inclusion proof of one receipt (RFC 9162 §2.1.3), or why the request is out of range. */
export type ProofResult =
  | {
      readonly kind: "proof";
      readonly leaf_index: number;
      readonly tree_size: number;
      /** Hex, as receipts carry it. */
      readonly leaf_hash: string;
      /** Base64 of the Merkle root. */
      readonly root: string;
      /** Base64, leaf to root. */
      readonly hashes: readonly string[];
      /** The signed checkpoint of that size, when the latest one has it. */
      readonly checkpoint: string | null;
    }
  | { readonly kind: "out_of_range"; readonly message: string };

/** A fresh archive of a ledger, streamed; its temporary file is removed once the stream closes. */
export interface ArchiveExport {
  readonly stream: Readable;
  readonly size: number;
  readonly sha256: string;
}

/** Health facts for /readyz and /v1/status. */
export interface HealthView {
  readonly degraded: boolean;
  readonly store: string;
  readonly details?: Record<string, unknown>;
}

/** Governor, as the ingress sees it. */
export interface GovernorService {
  // ---- intake ------------------------------------------------------------

  /** False before the start and once stopping: nothing is taken then. */
  readonly accepting: boolean;
  /** Safe mode: the ledger store is failing and nothing new runs. */
  readonly degraded: boolean;
  /** The service's clock (epoch ms). */
  now(): number;
  /** Submits a signal to a tenant's governor; in safe mode it is refused at once (and counted). */
  signal(account: string, input: SignalInput): Promise<SignalReply>;
  /** A tenant's message that is not a signal, on its last delivery: a refusal receipt on the tenant's ledger. */
  recordUndeliverable(account: string, messageId: string, reason: string): Promise<void>;

  // ---- marketplace -------------------------------------------------------

  /** Provision, plan change, cancel (or record) from one marketplace delivery, once per delivery id. */
  marketplaceEvent(delivery: MarketplaceDelivery, event: MarketplaceEvent): Promise<MarketplaceOutcome>;
  /**
   * A Google Cloud Marketplace procurement notification, once per event id:
   * the resource it names is read from the Procurement API and acted on.
   * 404 `MARKETPLACE_NOT_CONFIGURED` without a provider id.
   */
  procurementNotification(notification: ProcurementNotification, publishedAt?: number): Promise<MarketplaceOutcome>;
  /** One pass of the Google Cloud Marketplace reconciliation now; null without a provider id. */
  reconcileMarketplace(): Promise<SweepResult | null>;
  /**
   * A sign-up from Google Cloud Marketplace: the token verified, the account
   * approved (`signup`) and recorded. 404 `SIGNUP_NOT_CONFIGURED` without a
   * sign-up audience.
   */
  marketplaceSignup(token: string): Promise<SignupOutcome>;

  // ---- tenants -----------------------------------------------------------

  /** The tenant has a governor here (in any state, quarantined included). */
  hasTenant(account: string): boolean;
  /** The tenant's state alone (cheap, for checks on every request), or undefined if it is not here. */
  tenantState(account: string): TenantState | undefined;
  tenantStatus(account: string): TenantStatus | undefined;
  /** Tenants counted by state. */
  tenantCounts(): Record<string, number>;
  isQuarantined(account: string): boolean;
  /** Rebuilds a quarantined tenant from its ledger (an operator's request). @throws when it cannot be rebuilt */
  rebuild(account: string): Promise<void>;
  /** Sets a tenant's concurrency (an operator's request). */
  scale(account: string, concurrency: number): Promise<ScaleResult>;

  // ---- tenant tokens -----------------------------------------------------

  /** The tenant a token is issued to, by the hex SHA-256 of the token; null if it is none. */
  tokenOwner(digestHex: string): { readonly account: string } | null;
  /** Issues a tenant token; `limit` when the tenant has its maximum already. */
  issueToken(account: string, by: TokenActor): Promise<IssuedToken | { readonly limit: string }>;
  listTokens(account: string): Promise<TokenList>;
  /** Revokes a token; null if the tenant has no such active token. */
  revokeToken(account: string, tokenId: string, by: TokenActor): Promise<Receipt | null>;

  // ---- policies ----------------------------------------------------------

  pushPolicy(document: unknown, options: PushOptions): Promise<PushResult>;
  /** Every SKU with its current version and every version pushed. */
  policies(): readonly PolicySummary[];
  /** The current policy document of a SKU, as pushed. */
  policyDocument(sku: string): unknown;

  // ---- auditor -----------------------------------------------------------

  /** The ledger exists here: the platform ledger, a tenant's, or one that holds receipts. */
  ledgerExists(ledger: LedgerId): Promise<boolean>;
  receipts(ledger: LedgerId, from: number, limit: number): Promise<ReceiptPage>;
  checkpoint(ledger: LedgerId): Promise<CheckpointView | null>;
  /** The inclusion proof of receipt `seq` in the tree of `size` (default: the latest checkpoint's, else the durable size). */
  proof(ledger: LedgerId, seq: number, size?: number): Promise<ProofResult>;
  exportArchive(ledger: LedgerId): Promise<ArchiveExport>;

  // ---- platform ----------------------------------------------------------

  health(): HealthView;
  /** The backend this service runs on (embedded, gcp). */
  readonly backend: string;
  /** The checkpoint verifier keys (signed-note format), one per signer. */
  verifierKeys(): readonly string[];
}
