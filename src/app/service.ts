/**
 * The GovernorService over a started runtime: each operation delegates to the
 * part that does it (host, marketplace, tokens, policy rollout, ledger
 * queries), so the ingress never reaches them itself.
 */
import type { LedgerId, Receipt } from "../ledger/receipt.ts";
import type { GoogleMarketplace } from "./google-marketplace.ts";
import type { Marketplace, MarketplaceOutcome } from "./marketplace.ts";
import type { Runtime } from "./runtime.ts";
import { signupNotConfigured, type MarketplaceSignup } from "./signup.ts";
import { TokenLimitError } from "./tenant-tokens.ts";
import type { GovernorService, HealthView, IssuedToken, PolicySummary, ScaleResult, SignalInput, SignalReply, TenantState, TenantStatus, TokenActor, TokenList } from "./governor-service.ts";
import { LedgerQueries } from "./ledger-queries.ts";

/** The health facts operators see, from the runtime's health monitor. */
function healthOf(rt: Runtime): HealthView {
  const h = rt.health.state();
  return {
    degraded: h.degraded,
    store: h.store,
    details: {
      health: {
        consecutive_failures: h.consecutiveFailures,
        last_probe_at: h.lastProbeAt,
        last_probe_ms: h.lastProbeMs,
        last_error: h.lastError,
        safe_mode_since: h.degradedSince,
        actions_refused: h.actionsRefused,
      },
    },
  };
}

/** Google Cloud Marketplace's parts, when a provider id is configured. */
export interface GoogleMarketplaceParts {
  readonly google?: GoogleMarketplace;
  /** Sign-up from Google Cloud Marketplace; absent without a sign-up audience. */
  readonly signup?: MarketplaceSignup;
}

const notConfigured: MarketplaceOutcome = {
  status: 404,
  code: "MARKETPLACE_NOT_CONFIGURED",
  message: "Google Cloud Marketplace is not configured: set GOVERNOR_MARKETPLACE_PROVIDER_ID",
};

/** The service over `rt`, with the marketplace workflows every ingress of that runtime shares. */
export function createGovernorService(rt: Runtime, marketplace: Marketplace, parts: GoogleMarketplaceParts = {}): GovernorService {
  const { google, signup } = parts;
  const queries = new LedgerQueries({
    store: rt.store,
    writtenSize: (ledger) => (rt.log.isOpen(ledger) ? rt.log.durableSize(ledger) : undefined),
    hasTenant: (account) => rt.governors.has(account),
    exportTo: (ledger, destination) => rt.exportTo(ledger, destination),
  });
  return {
    get accepting() {
      return rt.accepting;
    },
    get degraded() {
      return rt.health.degraded;
    },
    now: () => rt.clock.now(),
    signal: (account: string, input: SignalInput): Promise<SignalReply> => rt.signal(account, input, Buffer.byteLength(JSON.stringify(input.params))),
    // The refusal is the governor's to decide (governors/deciders/signal.ts).
    recordUndeliverable: (account, messageId, reason) => rt.governors.undeliverable(account, messageId, reason),

    marketplaceEvent: (delivery, event) => marketplace.handle(delivery, event),
    procurementNotification: (notification, publishedAt) => google?.handle(notification, publishedAt) ?? Promise.resolve(notConfigured),
    reconcileMarketplace: () => google?.sweep() ?? Promise.resolve(null),
    marketplaceSignup: (token) => signup?.signup(token) ?? Promise.resolve(signupNotConfigured),

    hasTenant: (account) => rt.governors.has(account),
    tenantState: (account) => rt.governors.lifecycleOf(account) as TenantState | undefined,
    tenantStatus: (account) => rt.governors.status(account) as TenantStatus | undefined,
    tenantCounts() {
      const counts: Record<string, number> = {};
      for (const a of rt.governors.accounts()) {
        const s = rt.governors.status(a)?.state ?? "unknown";
        counts[s] = (counts[s] ?? 0) + 1;
      }
      return counts;
    },
    isQuarantined: (account) => rt.governors.isQuarantined(account),
    async rebuild(account) {
      await rt.governors.restore(account, "operator");
    },
    async scale(account, concurrency): Promise<ScaleResult> {
      const before = rt.governors.status(account)?.concurrency;
      const { state, receipt } = await rt.governors.scale(account, concurrency, "operator");
      return { state, before, receipt };
    },

    tokenOwner: (digestHex) => rt.tokens.verifyDigest(digestHex),
    async issueToken(account: string, by: TokenActor): Promise<IssuedToken | { readonly limit: string }> {
      try {
        return await rt.tokens.issue(account, by);
      } catch (err) {
        if (err instanceof TokenLimitError) return { limit: err.message };
        throw err;
      }
    },
    async listTokens(account): Promise<TokenList> {
      return { maxActive: rt.tokens.maxActive, tokens: await rt.tokens.list(account) };
    },
    revokeToken: (account: string, tokenId: string, by: TokenActor): Promise<Receipt | null> => rt.tokens.revoke(account, tokenId, by),

    pushPolicy: (document, options) => rt.policies.push(document, options),
    policies: (): PolicySummary[] =>
      rt.catalog.skus().map((sku) => ({ sku_id: sku, policy_version: rt.catalog.current(sku)?.version ?? null, versions: rt.catalog.versions(sku).sort() })),
    policyDocument: (sku) => rt.catalog.currentDocument(sku),

    ledgerExists: (ledger: LedgerId) => queries.exists(ledger),
    receipts: (ledger, from, limit) => queries.receipts(ledger, from, limit),
    checkpoint: (ledger) => queries.checkpoint(ledger),
    proof: (ledger, seq, size) => queries.proof(ledger, seq, size),
    exportArchive: (ledger) => queries.exportArchive(ledger),

    health: () => healthOf(rt),
    backend: rt.config.backend,
    verifierKeys: () => rt.credentials.signers.map((s) => s.verifierKey),
  };
}
