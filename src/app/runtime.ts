/**
 * One Governor runtime, composed: the ledger log over the backend's store,
 * every tenant's governor, the policy catalog and rollout, the health and
 * scaler ticks, signal intake, tenant tokens and the platform ledger. No
 * decision is made here; the ingress reaches all of it through the
 * GovernorService (service.ts).
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import type { Credentials } from "../credentials.ts";
import { exportLedgerArchive } from "../ledger/archive.ts";
import { createUuidV7Source, hexToBytes } from "../ledger/hash.ts";
import { MerkleFrontier } from "../ledger/merkle.ts";
import { PLATFORM_LEDGER, type LedgerId, type Receipt, type ReceiptDraft } from "../ledger/receipt.ts";
import { LedgerLog } from "../log/ledger-log.ts";
import { drainSpool } from "../log/spool.ts";
import { PolicyCatalog } from "../policy/registry.ts";
import { PolicyRollout } from "../policy/rollout.ts";
import type { AlertSink, ChannelProvisioner, Clock, DeliveryLog, DrivenAdapters, LedgerStore, Spool } from "../ports/index.ts";
import { Governors, type SignalInput } from "./governors.ts";
import { builtinHandlers, type ActionHandler } from "./handlers.ts";
import { HealthTick } from "./health-tick.ts";
import { startMemoryReclaimer } from "./memory-reclaimer.ts";
import { ScalerTick } from "./scaler.ts";
import { SignalIntake, type IntakeReply } from "./signal-intake.ts";
import { TenantTokens } from "./tenant-tokens.ts";

/** What a runtime is composed of: the backend's adapters (src/adapters/backend.ts picks them), its settings and secrets. */
export interface RuntimeDeps extends DrivenAdapters {
  readonly config: Config;
  readonly credentials: Credentials;
  readonly logger: Logger;
  readonly handlers?: ReadonlyMap<string, ActionHandler>;
}

export class Runtime {
  readonly config: Config;
  readonly store: LedgerStore;
  readonly log: LedgerLog;
  readonly governors: Governors;
  readonly intake: SignalIntake;
  readonly catalog = new PolicyCatalog();
  readonly policies: PolicyRollout;
  readonly alerts: AlertSink;
  readonly health: HealthTick;
  readonly spool: Spool;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly channels: ChannelProvisioner;
  readonly credentials: Credentials;
  readonly deliveries: DeliveryLog;
  /** Every tenant's bearer tokens: issued, verified, revoked (with receipts on the tenant's ledger). */
  readonly tokens: TenantTokens;
  readonly #deps: RuntimeDeps;
  readonly #newId: () => string;
  readonly #scaler: ScalerTick;
  #accepting = false;
  #reclaimer: { stop(): void } | null = null;

  constructor(deps: RuntimeDeps) {
    this.#deps = deps;
    this.config = deps.config;
    this.store = deps.store;
    this.logger = deps.logger;
    this.clock = deps.clock;
    this.channels = deps.channels;
    this.credentials = deps.credentials;
    this.deliveries = deps.deliveries;
    this.#newId = createUuidV7Source(() => this.clock.now());
    const alerts = deps.alerts;
    this.alerts = alerts;
    this.spool = deps.spool;
    const handlers = deps.handlers ?? builtinHandlers;
    this.log = new LedgerLog({
      spool: this.spool,
      store: deps.store,
      signers: deps.credentials.signers,
      originPrefix: deps.config.originPrefix,
      clock: this.clock,
      newId: this.#newId,
      logger: deps.logger,
      checkpointIntervalMs: deps.config.checkpointIntervalMs,
      onFenced: (ledger, err) => this.governors.recoverFenced(ledger, err),
    });
    this.governors = new Governors({
      store: deps.store,
      log: this.log,
      clock: this.clock,
      newId: this.#newId,
      handlers,
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
      store: deps.tokenStore,
      record: (account, draft) => this.governors.record(account, draft),
      stateOf: (account) => this.governors.status(account)?.state,
      clock: this.clock,
      logger: deps.logger,
      alerts,
    });
    this.health = new HealthTick({
      store: deps.store,
      log: this.log,
      clock: this.clock,
      logger: deps.logger,
      alerts,
      intervalMs: deps.config.healthIntervalMs,
      probeDeadlineMs: deps.config.probeDeadlineMs,
      failureThreshold: deps.config.probeFailures,
      sealPlatform: (draft) => this.log.seal(PLATFORM_LEDGER as LedgerId, draft),
      onCleared: () => this.governors.resumeQueues(),
    });
    this.intake = new SignalIntake({
      governors: this.governors,
      accepting: () => this.#accepting,
      degraded: () => this.health.degraded,
      countRefusal: () => this.health.countRefusal(),
    });
    this.#scaler = new ScalerTick({ clock: this.clock, everyMs: deps.config.scaleIntervalMs, tick: () => this.governors.scaleTick(), paused: () => this.health.degraded });
    this.policies = new PolicyRollout({
      catalog: this.catalog,
      registry: deps.policyRegistry,
      handlerNames: () => handlers.keys(),
      tenants: (sku) => this.governors.policyTenants(sku),
      offer: (policy, forced) => this.governors.offerPolicy(policy, forced),
      recordPlatform: (draft) => this.recordPlatform(draft),
      alerts,
      logger: deps.logger,
    });
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Loads the policy registry and the policy files, opens the platform
   * ledger, rebuilds every governor, pushes policy files that changed while
   * the service was down, and starts taking work.
   */
  async start(): Promise<{ governors: number; receiptsReplayed: number; policies: number; spooledReceipts: number }> {
    // Receipts spooled in safe mode by a process that died go into the ledger before anything is rebuilt.
    const drained = await drainSpool(this.store, this.spool, this.logger);
    await this.policies.loadRegistry();
    const source = this.#deps.policySource;
    const sourceExists = await source.exists();
    const files = sourceExists ? await this.policies.readFiles(await source.readAll()) : { adopted: 0, toPush: [] };
    if (!sourceExists) this.logger.warn({ dir: source.location }, "no policies directory; no SKU can be provisioned until policies are pushed");
    const head = await this.store.head(PLATFORM_LEDGER as LedgerId);
    const checkpoint = await this.store.latestCheckpoint(PLATFORM_LEDGER as LedgerId);
    const hashes = await this.store.readHashes(PLATFORM_LEDGER as LedgerId);
    this.log.open(PLATFORM_LEDGER as LedgerId, {
      size: head.size,
      lastHash: head.lastHash,
      lastTimestamp: head.lastTimestamp,
      frontier: MerkleFrontier.from(hashes.map(hexToBytes)),
      checkpointed: checkpoint?.size ?? 0,
    });
    const rebuilt = await this.governors.start();
    for (const { file, json } of files.toPush) await this.policies.pushFile(file, json);
    for (const account of this.governors.accounts()) {
      const s = this.governors.status(account);
      if (s === undefined || s.state === "decommissioned" || s.state === "new") continue;
      await this.channels.create(account);
      // A channel lets through what its tenant's concurrency allows, from the start, not from the next scale.
      this.channels.tune?.(account, s.concurrency);
    }
    const tokens = await this.tokens.start();
    if (tokens.revoked > 0) this.logger.info(tokens, "tenant tokens of decommissioned tenants revoked at start");
    if (sourceExists) source.watch?.((read) => void this.policies.fileChanged(read));
    this.health.start();
    this.#scaler.start();
    this.#reclaimer = startMemoryReclaimer({ clock: this.clock, quietMs: this.config.memoryReclaimMs, youngQuietMs: this.config.youngGcMs, activity: () => this.log.sealedTotal, logger: this.logger });
    this.#accepting = true;
    return { ...rebuilt, policies: this.catalog.skus().length, spooledReceipts: drained.receipts };
  }

  /** Seals a receipt on the platform ledger from a path that must not throw (it is logged if it cannot be written). */
  #sealPlatformQuietly(draft: ReceiptDraft): void {
    try {
      this.log.seal(PLATFORM_LEDGER as LedgerId, draft);
    } catch (err) {
      this.logger.error({ err, operation: draft.operation }, "platform receipt could not be written");
    }
  }

  /** Records a receipt on the platform ledger and waits until it is durable. */
  async recordPlatform(draft: ReceiptDraft): Promise<Receipt> {
    const receipt = this.log.seal(PLATFORM_LEDGER as LedgerId, draft);
    await this.log.durable(PLATFORM_LEDGER);
    return receipt;
  }

  /** Submits a signal through intake (see signal-intake.ts). */
  signal(account: string, input: SignalInput, paramsBytes: number): Promise<IntakeReply> {
    return this.intake.submit(account, input, paramsBytes);
  }

  /**
   * Told before a cancelled tenant's ledger is archived, so that what it
   * still has to write lands in the archive (the usage of its last window).
   * A failure is logged: the archive is taken all the same.
   */
  beforeArchive: ((ledger: LedgerId) => Promise<unknown>) | null = null;

  /** Exports a ledger's archive into the archive store under a name of its own. */
  async #archive(ledger: LedgerId) {
    if (this.beforeArchive !== null) {
      await this.beforeArchive(ledger).catch((err: unknown) => this.logger.error({ err, ledger }, "the work before a cancelled tenant's archive failed; archiving all the same"));
    }
    const dir = join(this.config.dataDir, "tmp");
    await mkdir(dir, { recursive: true });
    const size = this.log.durableSize(ledger);
    const name = `${ledger}-${size}-${this.clock.now()}.tar.gz`;
    const tmp = join(dir, name);
    const result = await exportLedgerArchive({
      store: this.store,
      ledger,
      origin: this.log.origin(ledger),
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
    await this.log.flush();
    return exportLedgerArchive({
      store: this.store,
      ledger,
      origin: this.log.origin(ledger),
      signers: this.credentials.signers,
      verifierKeys: this.credentials.signers.map((s) => s.verifierKey),
      destination,
    });
  }

  /** Stops intake, lets what runs finish (bounded), checkpoints and closes the store. */
  async stop(): Promise<void> {
    this.#accepting = false;
    this.#deps.policySource.close();
    this.health.stop();
    this.#scaler.stop();
    this.#reclaimer?.stop();
    await this.governors.stop({ drainMs: this.config.shutdownDrainMs });
    await this.spool.close();
    await this.deliveries.close();
    await this.tokens.stop();
    await this.store.close();
  }

  newId(): string {
    return this.#newId();
  }
}
