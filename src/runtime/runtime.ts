/**
 * One Governor runtime: the ledger store, the single ledger writer, the
 * governor host, the policy catalog and the platform ledger, put together.
 * The ingress (HTTP, Pub/Sub) talks to this and nothing below it.
 */
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { SignalReply } from "../../governors/decide.ts";
import type { Config } from "../config.ts";
import type { Credentials } from "../credentials.ts";
import { exportLedgerArchive } from "../ledger/archive.ts";
import { createUuidV7Source, hexToBytes } from "../ledger/hash.ts";
import { MerkleFrontier } from "../ledger/merkle.ts";
import { PLATFORM_LEDGER, type LedgerId, type Receipt, type ReceiptDraft } from "../ledger/receipt.ts";
import { PolicyCatalog } from "../policy/registry.ts";
import { PolicyRollout } from "../policy/rollout.ts";
import { systemClock, type AlertSink, type ArchiveStore, type Clock, type DeliveryLog, type LedgerStore, type PolicyRegistry, type SignalChannels, type TenantTokenStore } from "../ports.ts";
import { GovernorHost, type SignalInput } from "./governor-host.ts";
import { builtinHandlers, type ActionHandler } from "./handlers.ts";
import { HealthMonitor } from "./health.ts";
import { LedgerWriter } from "./ledger-writer.ts";
import { createMemoryDeliveryLog } from "./memory-delivery-log.ts";
import { createMemoryTokenStore } from "./memory-token-store.ts";
import { startMemoryReclaimer } from "./memory-reclaimer.ts";
import { drainSpool, FileSpool } from "./spool.ts";
import { TenantTokens } from "./tenant-tokens.ts";

export interface RuntimeDeps {
  readonly config: Config;
  readonly credentials: Credentials;
  readonly store: LedgerStore;
  readonly archives: ArchiveStore & { pathOf?(name: string): string };
  readonly channels: SignalChannels;
  /** Every pushed policy version (embedded: a directory; GCP: a bucket). */
  readonly policyRegistry: PolicyRegistry;
  /** Marketplace deliveries seen, in the ledger store's backend; in memory when absent (a runtime built by hand). */
  readonly deliveries?: DeliveryLog;
  /** Tenant tokens, in the ledger store's backend; in memory when absent (a runtime built by hand). */
  readonly tokenStore?: TenantTokenStore;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly alerts?: AlertSink;
  readonly handlers?: ReadonlyMap<string, ActionHandler>;
}

/** The alert sink of the embedded default: a pino error line with a stable code. */
export function createLogAlertSink(logger: Logger): AlertSink {
  return {
    alert: ({ code, message, ledger, details }) => logger.error({ alert: code, ledger, ...details }, message),
  };
}

export class Runtime {
  readonly config: Config;
  readonly store: LedgerStore;
  readonly writer: LedgerWriter;
  readonly host: GovernorHost;
  readonly catalog = new PolicyCatalog();
  readonly policies: PolicyRollout;
  readonly alerts: AlertSink;
  readonly health: HealthMonitor;
  readonly spool: FileSpool;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly channels: SignalChannels;
  readonly credentials: Credentials;
  readonly deliveries: DeliveryLog;
  /** Every tenant's bearer tokens: issued, verified, revoked (with receipts on the tenant's ledger). */
  readonly tokens: TenantTokens;
  readonly #deps: RuntimeDeps;
  readonly #newId: () => string;
  #accepting = false;
  #scaler: { cancel(): void } | null = null;
  #reclaimer: { stop(): void } | null = null;

  constructor(deps: RuntimeDeps) {
    this.#deps = deps;
    this.config = deps.config;
    this.store = deps.store;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.channels = deps.channels;
    this.credentials = deps.credentials;
    this.deliveries = deps.deliveries ?? createMemoryDeliveryLog();
    this.#newId = createUuidV7Source(() => this.clock.now());
    const alerts = deps.alerts ?? createLogAlertSink(deps.logger);
    this.alerts = alerts;
    this.spool = new FileSpool(join(deps.config.dataDir, "spool", "receipts.jsonl"));
    this.writer = new LedgerWriter({
      spool: this.spool,
      store: deps.store,
      signers: deps.credentials.signers,
      originPrefix: deps.config.originPrefix,
      clock: this.clock,
      newId: this.#newId,
      logger: deps.logger,
      checkpointIntervalMs: deps.config.checkpointIntervalMs,
      onFenced: (ledger, err) => this.host.recoverFenced(ledger, err),
    });
    this.host = new GovernorHost({
      store: deps.store,
      writer: this.writer,
      clock: this.clock,
      newId: this.#newId,
      handlers: deps.handlers ?? builtinHandlers,
      resolvePolicy: this.catalog.resolve,
      alerts,
      logger: deps.logger,
      maxParamsBytes: deps.config.maxParamsBytes,
      exportArchive: (ledger) => this.#archive(ledger),
      deleteChannel: (ledger) => this.channels.delete(ledger),
      held: () => this.health.degraded,
      onConcurrency: (account, concurrency) => this.channels.tune?.(account, concurrency),
      signalDurableMs: deps.config.signalDurableMs,
      currentPolicy: (sku) => this.catalog.current(sku),
      // A tenant taken out of service, and back, is written on the platform ledger: it names the tenant, never its data.
      onQuarantined: (tenant, code, reason) =>
        this.#sealPlatformQuietly({ operation: "tenant_quarantined", status: "failure", duration_ms: 0, tenant, code, reason }),
      onRestored: (tenant, trigger, downtimeMs, refused) =>
        this.#sealPlatformQuietly({
          operation: "tenant_restored",
          status: "success",
          duration_ms: Math.round(downtimeMs),
          tenant,
          trigger,
          downtime_seconds: Math.round(downtimeMs / 1000),
          actions_refused: refused,
        }),
    });
    this.tokens = new TenantTokens({
      store: deps.tokenStore ?? createMemoryTokenStore(),
      record: (account, draft) => this.host.record(account, draft),
      stateOf: (account) => this.host.status(account)?.state,
      clock: this.clock,
      logger: deps.logger,
      alerts,
    });
    this.health = new HealthMonitor({
      store: deps.store,
      writer: this.writer,
      clock: this.clock,
      logger: deps.logger,
      alerts,
      intervalMs: deps.config.healthIntervalMs,
      probeDeadlineMs: deps.config.probeDeadlineMs,
      failureThreshold: deps.config.probeFailures,
      sealPlatform: (draft) => this.writer.seal(PLATFORM_LEDGER as LedgerId, draft),
      onCleared: () => this.host.resumeQueues(),
    });
    const handlers = deps.handlers ?? builtinHandlers;
    this.policies = new PolicyRollout({
      catalog: this.catalog,
      registry: deps.policyRegistry,
      handlerNames: () => handlers.keys(),
      tenants: (sku) => this.host.policyTenants(sku),
      offer: (policy, forced) => this.host.offerPolicy(policy, forced),
      recordPlatform: (draft) => this.recordPlatform(draft),
      alerts,
      logger: deps.logger,
    });
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Loads the policy registry and the policies directory, opens the platform
   * ledger, rebuilds every governor, pushes policy files that changed while
   * the service was down, and starts taking work.
   */
  async start(): Promise<{ governors: number; receiptsReplayed: number; policies: number; spooledReceipts: number }> {
    // Receipts spooled in safe mode by a process that died go into the ledger before anything is rebuilt.
    const drained = await drainSpool(this.store, this.spool, this.logger);
    await this.policies.loadRegistry();
    const dir = this.config.policiesDir;
    const dirExists = await stat(dir).then((s) => s.isDirectory(), () => false);
    const files = dirExists ? await this.policies.readDirectory(dir) : { adopted: 0, toPush: [] };
    if (!dirExists) this.logger.warn({ dir }, "no policies directory; no SKU can be provisioned until policies are pushed");
    const head = await this.store.head(PLATFORM_LEDGER as LedgerId);
    const checkpoint = await this.store.latestCheckpoint(PLATFORM_LEDGER as LedgerId);
    const hashes = await this.store.readHashes(PLATFORM_LEDGER as LedgerId);
    this.writer.open(PLATFORM_LEDGER as LedgerId, {
      size: head.size,
      lastHash: head.lastHash,
      lastTimestamp: head.lastTimestamp,
      frontier: MerkleFrontier.from(hashes.map(hexToBytes)),
      checkpointed: checkpoint?.size ?? 0,
    });
    const rebuilt = await this.host.start();
    for (const { file, json } of files.toPush) await this.policies.pushFile(file, json);
    for (const account of this.host.accounts()) {
      const s = this.host.status(account);
      if (s !== undefined && s.state !== "decommissioned" && s.state !== "new") await this.channels.create(account);
    }
    const tokens = await this.tokens.start();
    if (tokens.revoked > 0) this.logger.info(tokens, "tenant tokens of decommissioned tenants revoked at start");
    if (dirExists && this.config.policyWatch) this.policies.watch(dir);
    this.health.start();
    this.#startScaler();
    this.#reclaimer = startMemoryReclaimer({ clock: this.clock, quietMs: this.config.memoryReclaimMs, youngQuietMs: this.config.youngGcMs, activity: () => this.writer.sealedTotal, logger: this.logger });
    this.#accepting = true;
    return { ...rebuilt, policies: this.catalog.skus().length, spooledReceipts: drained.receipts };
  }

  /** Seals a receipt on the platform ledger from a path that must not throw (it is logged if it cannot be written). */
  #sealPlatformQuietly(draft: ReceiptDraft): void {
    try {
      this.writer.seal(PLATFORM_LEDGER as LedgerId, draft);
    } catch (err) {
      this.logger.error({ err, operation: draft.operation }, "platform receipt could not be written");
    }
  }

  /** Records a receipt on the platform ledger and waits until it is durable. */
  async recordPlatform(draft: ReceiptDraft): Promise<Receipt> {
    const receipt = this.writer.seal(PLATFORM_LEDGER as LedgerId, draft);
    await this.writer.durable(PLATFORM_LEDGER);
    return receipt;
  }

  #startScaler(): void {
    const every = this.config.scaleIntervalMs;
    if (every <= 0) return;
    const tick = () => {
      if (!this.health.degraded) this.host.scaleTick();
      this.#scaler = this.clock.setTimeout(tick, every);
    };
    this.#scaler = this.clock.setTimeout(tick, every);
  }

  /** Submits a signal. In safe mode it is refused at once (and counted): nothing runs while the store is failing. */
  signal(account: string, input: SignalInput, paramsBytes: number): Promise<SignalReply> {
    if (this.health.degraded) {
      this.health.countRefusal();
      return Promise.resolve({ kind: "unavailable", reason: "degraded" });
    }
    return this.host.signal(account, input, paramsBytes);
  }

  /**
   * A signal from a tenant's channel (Pub/Sub): "ack" once its outcome is
   * durable (accepted, a repeat, or refused with a receipt); "nack" to have it
   * delivered again later (safe mode, shutting down, being cancelled).
   */
  async fromChannel(account: string, signal: SignalInput, messageId: string): Promise<"ack" | "nack"> {
    if (!this.#accepting) return "nack";
    let reply: SignalReply;
    try {
      reply = await this.signal(account, signal, Buffer.byteLength(JSON.stringify(signal.params)));
    } catch (err) {
      if ((err as { code?: string }).code === "GOVERNOR_UNKNOWN_TENANT") {
        this.logger.warn({ account, message_id: messageId }, "signal for a tenant that is not provisioned here; dropped");
        return "ack";
      }
      throw err;
    }
    if (reply.kind !== "unavailable") return "ack";
    if (reply.reason === "degraded" || reply.reason === "decommissioning" || reply.reason === "quarantined" || reply.reason === "not_durable") return "nack";
    this.logger.warn({ account, message_id: messageId, signal_id: signal.signal_id, reason: reply.reason }, "signal for a tenant that takes none; dropped");
    return "ack";
  }

  /** A channel message that is not a signal: on its last delivery, a refusal receipt on the tenant's ledger before it is dead-lettered. */
  async undeliverable(account: string, messageId: string, reason: string, final: boolean): Promise<void> {
    if (!final || !this.host.has(account)) return;
    await this.host.record(account, {
      operation: "action_refused",
      status: "refused",
      duration_ms: 0,
      signal_id: `message-${messageId}`.replace(/[^A-Za-z0-9._:-]/g, "_").slice(0, 256),
      action: "",
      code: "invalid_params",
      reason: `undeliverable message ${messageId}, sent to the dead-letter topic: ${reason}`.slice(0, 1024),
    });
  }

  /** Exports a ledger's archive into the archive store under a name of its own. */
  async #archive(ledger: LedgerId) {
    const dir = join(this.config.dataDir, "tmp");
    await mkdir(dir, { recursive: true });
    const size = this.writer.durableSize(ledger);
    const name = `${ledger}-${size}-${this.clock.now()}.tar.gz`;
    const tmp = join(dir, name);
    const result = await exportLedgerArchive({
      store: this.store,
      ledger,
      origin: this.writer.origin(ledger),
      signers: this.credentials.signers,
      verifierKeys: this.credentials.signers.map((s) => s.verifierKey),
      destination: tmp,
    });
    const data = await readFile(tmp);
    const stored = await this.#deps.archives.put(name, data);
    await rm(tmp, { force: true });
    return { archiveUri: stored.uri, archiveBytes: stored.bytes, archiveSha256: result.sha256, receiptCount: result.size };
  }

  /** Writes a fresh archive of a ledger to a file (the auditor's export). */
  async exportTo(ledger: LedgerId, destination: string) {
    await this.writer.flush();
    return exportLedgerArchive({
      store: this.store,
      ledger,
      origin: this.writer.origin(ledger),
      signers: this.credentials.signers,
      verifierKeys: this.credentials.signers.map((s) => s.verifierKey),
      destination,
    });
  }

  /** Stops intake, lets what runs finish (bounded), checkpoints and closes the store. */
  async stop(): Promise<void> {
    this.#accepting = false;
    this.policies.close();
    this.health.stop();
    this.#scaler?.cancel();
    this.#reclaimer?.stop();
    await this.host.stop({ drainMs: this.config.shutdownDrainMs });
    await this.spool.close();
    await this.deliveries.close();
    await this.tokens.stop();
    await this.store.close();
  }

  newId(): string {
    return this.#newId();
  }
}
