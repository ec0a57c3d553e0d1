/**
 * Every driven port a runtime is composed of, as one backend provides them
 * (src/adapters/backend.ts picks the backend; src/app/runtime.ts takes them).
 */
import type { AlertSink } from "./alerts.ts";
import type { ArchiveStore } from "./archive-store.ts";
import type { ChannelProvisioner } from "./channel-provisioner.ts";
import type { Clock } from "./clock.ts";
import type { DeliveryLog } from "./delivery-log.ts";
import type { LedgerStore } from "./ledger-store.ts";
import type { PolicyRegistry } from "./policy-registry.ts";
import type { PolicySource } from "./policy-source.ts";
import type { Spool } from "./spool.ts";
import type { TenantTokenStore } from "./tenant-token-store.ts";

export interface DrivenAdapters {
  readonly store: LedgerStore;
  readonly archives: ArchiveStore;
  /** Creates and deletes tenants' signal channels. */
  readonly channels: ChannelProvisioner;
  /** Every pushed policy version (embedded: a directory; GCP: a bucket). */
  readonly policyRegistry: PolicyRegistry;
  /** Marketplace deliveries seen, beside the ledgers. */
  readonly deliveries: DeliveryLog;
  /** Tenant tokens (their SHA-256 only), beside the ledgers. */
  readonly tokenStore: TenantTokenStore;
  /** Where receipts go while the store is down. */
  readonly spool: Spool;
  /** The policy files read at start and, if it watches, pushed when they change. */
  readonly policySource: PolicySource;
  readonly clock: Clock;
  readonly alerts: AlertSink;
}
