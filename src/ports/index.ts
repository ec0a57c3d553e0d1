/**
 * The interfaces the runtime needs from the world, one port per file.
 * Adapters implement them: `src/adapters/embedded/` (the default, one
 * process, no cloud), `src/adapters/gcp/` (Pub/Sub, Firestore, Cloud
 * Storage) and `src/adapters/memory/` (in memory, for tests and runtimes
 * built by hand). `src/adapters/backend.ts` picks one set.
 */

// Errors every port raises: retryable or terminal.
export { BatchInvalidError, ChainConflictError, LedgerStoreErrorCode, PortError, SeqConflictError, StoreUnavailableError } from "./errors.ts";

// Driven ports: what the runtime calls.
export type { AppendBatch, LedgerHead, LedgerStore, StoredCheckpoint, StoredSnapshot } from "./ledger-store.ts";
export type { ArchiveStore } from "./archive-store.ts";
export { checkPolicyKey, isPolicyVersion, isSkuId, POLICY_VERSION_PATTERN, SKU_ID_PATTERN, type PolicyPutOutcome, type PolicyRegistry } from "./policy-registry.ts";
export type { ChannelProvisioner } from "./channel-provisioner.ts";
export type { Spool, SpoolEntry } from "./spool.ts";
export type { PolicyFileRead, PolicySource } from "./policy-source.ts";
export type { AlertSink } from "./alerts.ts";
export { systemClock, type Clock } from "./clock.ts";
export type { StoredTenantToken, TenantTokenIssueOutcome, TenantTokenStore } from "./tenant-token-store.ts";
export type {
  DeliveryClaim,
  DeliveryClaimResult,
  DeliveryLog,
  DeliveryOutcome,
  DeliveryRecord,
  EntitlementApplied,
  EntitlementMark,
} from "./delivery-log.ts";

export {
  AccountState,
  cutToUtf8Bytes,
  EntitlementState,
  MAX_REJECTION_REASON_BYTES,
  ProcurementApiError,
  type EntitlementPage,
  type ProcurementAccount,
  type ProcurementApi,
  type ProcurementApproval,
  type ProcurementEntitlement,
} from "./procurement-api.ts";
export { SignupTokenError, SignupTokenErrorCode, type SignupClaims, type SignupTokenVerifier } from "./signup-token.ts";
export { UsageMeterError, type MetricValue, type UsageCheck, type UsageMeter, type UsageOperation } from "./usage-meter.ts";

// Everything driven, as one backend provides it.
export type { DrivenAdapters } from "./adapters.ts";

// Driving ports: what calls the runtime.
export type { InboundMessage, SignalHandler, SignalSource, Verdict } from "./signal-source.ts";
export type { ProcurementHandler, ProcurementSource } from "./procurement-source.ts";
