/**
 * The one place a backend is chosen (`--backend` or GOVERNOR_BACKEND), with
 * every adapter the runtime needs from it: embedded (SQLite, local
 * directories, in-process channels fed by HTTP) or gcp (Firestore, Cloud
 * Storage, Pub/Sub), each configured the way its clients are. Both keep the
 * safe-mode spool on local disk, read policy files from the policies
 * directory, run on the system clock and raise alerts as log lines.
 *
 * Nothing here knows the runtime: what arrives from outside (Pub/Sub
 * signals, procurement messages) is offered as driving ports that the
 * ingress starts with its own handlers.
 */
import { join } from "node:path";
import type { Logger } from "pino";
import { ConfigError, type Config } from "../config.ts";
import { FileSpool } from "../log/spool.ts";
import { MAX_POLICY_BYTES } from "../policy/schema.ts";
import { systemClock, type DrivenAdapters, type ProcurementApi, type ProcurementSource, type SignalSource, type UsageMeter } from "../ports/index.ts";
import { createDirectoryArchiveStore } from "./embedded/fs-archive-store.ts";
import { createDirectoryPolicyRegistry } from "./embedded/fs-policy-registry.ts";
import { createDirectoryPolicySource } from "./embedded/fs-policy-source.ts";
import { createInProcessChannels } from "./embedded/in-process-channels.ts";
import { createLogAlertSink } from "./embedded/log-alert-sink.ts";
import { createSqliteDeliveryLog } from "./embedded/sqlite-delivery-log.ts";
import { createSqliteLedgerStore } from "./embedded/sqlite-ledger-store.ts";
import { createSqliteTokenStore } from "./embedded/sqlite-token-store.ts";
import { createFirestoreDeliveryLog } from "./gcp/firestore-delivery-log.ts";
import { createFirestoreClient, createFirestoreLedgerStore } from "./gcp/firestore-ledger-store.ts";
import { createFirestoreTokenStore } from "./gcp/firestore-token-store.ts";
import { createUsageMeter } from "./gcp/service-control.ts";
import { createGcsArchiveStore, createGcsPolicyRegistry, createStorageClient } from "./gcp/gcs.ts";
import { createProcurementApi } from "./gcp/procurement-api.ts";
import { createPubSubChannels, createPubSubClient, createPubSubProcurementSource, flowFor } from "./gcp/pubsub.ts";

export interface Backend extends DrivenAdapters {
  /** Tenants' signals from their channels; null when signals arrive over HTTP only. */
  readonly signals: SignalSource | null;
  /** Marketplace procurement messages; null when none are subscribed to (webhooks only). */
  readonly procurement: ProcurementSource | null;
  /** Google Cloud Marketplace's Partner Procurement API; null without a provider id. */
  readonly procurementApi: ProcurementApi | null;
  /** Service Control, where usage is billed; null without a service name. */
  readonly usageMeter: UsageMeter | null;
  /** Stops taking work from outside (before the runtime stops) and closes the clients. */
  detach(): Promise<void>;
}

/** The backend the configuration names. */
export function createBackend(config: Config, logger: Logger): Backend {
  return config.backend === "gcp" ? gcpBackend(config, logger) : embeddedBackend(config, logger);
}

/** What both backends share: the spool on local disk, the policies directory, the system clock, alerts as log lines. */
export function localBackendParts(config: Config, logger: Logger) {
  return {
    spool: new FileSpool(join(config.dataDir, "spool", "receipts.jsonl")),
    policySource: createDirectoryPolicySource({
      dir: config.policiesDir,
      maxBytes: MAX_POLICY_BYTES,
      watch: config.policyWatch,
      clock: systemClock,
      onWatchError: (err) => logger.error({ dir: config.policiesDir, err }, "policies directory watch failed; restart to pick up policy edits"),
    }),
    clock: systemClock,
    alerts: createLogAlertSink(logger),
    ...marketplaceApis(config),
  };
}

/** Google Cloud Marketplace's APIs, on either backend: they are Google's, whatever stores the ledgers. */
function marketplaceApis(config: Config): { procurementApi: ProcurementApi | null; usageMeter: UsageMeter | null } {
  const auth = config.googleApiAuth;
  return {
    procurementApi: config.marketplaceProviderId === "" ? null : createProcurementApi({ providerId: config.marketplaceProviderId, rootUrl: config.procurementApiUrl, auth }),
    usageMeter: config.marketplaceServiceName === "" ? null : createUsageMeter({ serviceName: config.marketplaceServiceName, rootUrl: config.serviceControlUrl, auth }),
  };
}

export function embeddedBackend(config: Config, logger: Logger): Backend {
  return {
    store: createSqliteLedgerStore({ path: join(config.dataDir, "ledger.sqlite"), reclaimAfterMs: config.memoryReclaimMs }),
    deliveries: createSqliteDeliveryLog({ path: join(config.dataDir, "ledger.sqlite") }),
    tokenStore: createSqliteTokenStore({ path: join(config.dataDir, "tenant-tokens.sqlite") }),
    archives: createDirectoryArchiveStore(join(config.dataDir, "archives")),
    channels: createInProcessChannels(),
    policyRegistry: createDirectoryPolicyRegistry(join(config.dataDir, "policy-registry")),
    ...localBackendParts(config, logger),
    signals: null,
    procurement: null,
    detach: async () => {},
  };
}

export function gcpBackend(config: Config, logger: Logger): Backend {
  const missing = [
    ["GOOGLE_CLOUD_PROJECT", config.gcpProject],
    ["GOVERNOR_ARCHIVE_BUCKET", config.archiveBucket],
    ["GOVERNOR_POLICY_BUCKET", config.policyBucket],
  ].filter(([, v]) => v === "");
  if (missing.length > 0) throw new ConfigError(`--backend gcp needs ${missing.map(([k]) => k).join(", ")}`);
  const projectId = config.gcpProject;
  const storage = createStorageClient({ projectId });
  const pubsub = createPubSubClient({ projectId });
  // A tenant's flow control follows its concurrency once the runtime tunes its channel; until then, that of concurrency 1.
  const channels = createPubSubChannels({ pubsub, logger, maxDeliveryAttempts: config.deliveryAttempts, maxMessages: () => flowFor(1) });
  const procurement =
    config.procurementTopic === ""
      ? null
      : createPubSubProcurementSource({ pubsub, logger, topic: config.procurementTopic, subscription: config.procurementSubscription });
  const firestore = createFirestoreClient({ projectId });
  const stores = { firestore, collectionPrefix: config.firestorePrefix, callTimeoutMs: config.storeTimeoutMs };
  return {
    store: createFirestoreLedgerStore(stores),
    deliveries: createFirestoreDeliveryLog(stores),
    tokenStore: createFirestoreTokenStore(stores),
    archives: createGcsArchiveStore({ storage, bucket: config.archiveBucket }),
    policyRegistry: createGcsPolicyRegistry({ storage, bucket: config.policyBucket }),
    channels,
    ...localBackendParts(config, logger),
    signals: channels,
    procurement,
    async detach() {
      await procurement?.close();
      await channels.close();
      await pubsub.close();
    },
  };
}
