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
import { readPolicyDirectory } from "../policy/load.ts";
import { PolicyCatalog } from "../policy/registry.ts";
import { systemClock, type AlertSink, type ArchiveStore, type Clock, type LedgerStore, type SignalChannels } from "../ports.ts";
import { GovernorHost, type SignalInput } from "./governor-host.ts";
import { builtinHandlers, type ActionHandler } from "./handlers.ts";
import { LedgerWriter } from "./ledger-writer.ts";

export interface RuntimeDeps {
  readonly config: Config;
  readonly credentials: Credentials;
  readonly store: LedgerStore;
  readonly archives: ArchiveStore & { pathOf?(name: string): string };
  readonly channels: SignalChannels;
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
  readonly logger: Logger;
  readonly clock: Clock;
  readonly channels: SignalChannels;
  readonly credentials: Credentials;
  readonly #deps: RuntimeDeps;
  readonly #newId: () => string;
  #accepting = false;

  constructor(deps: RuntimeDeps) {
    this.#deps = deps;
    this.config = deps.config;
    this.store = deps.store;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.channels = deps.channels;
    this.credentials = deps.credentials;
    this.#newId = createUuidV7Source(() => this.clock.now());
    const alerts = deps.alerts ?? createLogAlertSink(deps.logger);
    this.writer = new LedgerWriter({
      store: deps.store,
      signers: deps.credentials.signers,
      originPrefix: deps.config.originPrefix,
      clock: this.clock,
      newId: this.#newId,
      logger: deps.logger,
      checkpointIntervalMs: deps.config.checkpointIntervalMs,
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
    });
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /** Loads policies, opens the platform ledger, rebuilds every governor, and starts taking work. */
  async start(): Promise<{ governors: number; receiptsReplayed: number; policies: number }> {
    const policies = await this.loadPolicies();
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
    for (const account of this.host.accounts()) {
      const s = this.host.status(account);
      if (s !== undefined && s.state !== "decommissioned" && s.state !== "new") await this.channels.create(account);
    }
    this.#accepting = true;
    return { ...rebuilt, policies };
  }

  /** Loads every policy in the policies directory into the catalog; a bad file is logged and skipped. */
  async loadPolicies(): Promise<number> {
    const dir = this.config.policiesDir;
    const exists = await stat(dir).then((s) => s.isDirectory(), () => false);
    if (!exists) {
      this.logger.warn({ dir }, "no policies directory; no SKU can be provisioned until policies are pushed");
      return 0;
    }
    let loaded = 0;
    for (const result of await readPolicyDirectory(dir)) {
      if (result.policy) {
        this.catalog.add(result.policy);
        loaded++;
      } else {
        this.logger.error({ file: result.file, issues: result.issues }, "policy file refused");
      }
    }
    return loaded;
  }

  /** Records a receipt on the platform ledger and waits until it is durable. */
  async recordPlatform(draft: ReceiptDraft): Promise<Receipt> {
    const receipt = this.writer.seal(PLATFORM_LEDGER as LedgerId, draft);
    await this.writer.durable(PLATFORM_LEDGER);
    return receipt;
  }

  signal(account: string, input: SignalInput, paramsBytes: number): Promise<SignalReply> {
    return this.host.signal(account, input, paramsBytes);
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
    await this.host.stop({ drainMs: this.config.shutdownDrainMs });
    await this.store.close();
  }

  newId(): string {
    return this.#newId();
  }
}
