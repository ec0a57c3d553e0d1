/** `governor serve`: the service (`npm start`). */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DataDirLockedError, lockDataDir, type DataDirLock } from "../adapters/embedded/data-dir-lock.ts";
import { ConfigError, describeSettings, loadConfig } from "../config.ts";
import { loadCredentials } from "../credentials.ts";
import { buildHttpServer } from "../ingress/http/server.ts";
import { createProcurementConsumer } from "../ingress/pubsub/procurement.ts";
import { createSignalConsumer } from "../ingress/pubsub/signals.ts";
import { createLogger } from "../logger.ts";
import type { LedgerId } from "../ledger/receipt.ts";
import { StoreUnavailableError, type ProcurementApi, type UsageMeter } from "../ports/index.ts";
import { MarketplaceSignup } from "../app/signup.ts";
import { createSignupTokenVerifier } from "../adapters/gcp/signup-token.ts";
import { UsageReporter } from "../app/usage-reporter.ts";
import { GoogleMarketplace } from "../app/google-marketplace.ts";
import { Marketplace } from "../app/marketplace.ts";
import { createGovernorService } from "../app/service.ts";
import { Runtime } from "../app/runtime.ts";
import { embeddedBackend, gcpBackend, type Backend } from "../adapters/backend.ts";

export const summary = "run the service (what `npm start` runs)";

export async function run(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { backend: { type: "string" }, help: { type: "boolean" } }, strict: true });
  } catch (err) {
    process.stderr.write(`governor serve: ${(err as Error).message}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`usage: governor serve [--backend embedded|gcp]\n\nsettings (environment variable, default, meaning):\n${describeSettings()}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig(process.env, args.values.backend ? { backend: args.values.backend as "embedded" | "gcp" } : {});
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`governor serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  // Every file the service creates (ledger, spool, archives, registry, credentials, lock) is the service user's alone.
  process.umask(0o077);
  let dataDirLock: DataDirLock | null = null;
  if (config.backend === "embedded") {
    try {
      dataDirLock = lockDataDir(config.dataDir);
    } catch (err) {
      if (!(err instanceof DataDirLockedError)) throw err;
      logger.fatal({ code: err.code, dataDir: err.dataDir, pid: err.holderPid }, err.message);
      return 1;
    }
  }
  let credentials;
  try {
    credentials = loadCredentials(config.dataDir);
  } catch (err) {
    logger.fatal({ code: "GOVERNOR_CREDENTIALS_INVALID" }, (err as Error).message);
    return 2;
  }
  if (credentials.generated) {
    logger.warn({ path: credentials.path }, "first start: generated bearer tokens, a webhook secret and a signing key (mode 0600); read them from this file");
  }
  for (const warning of credentials.warnings) logger.warn({ code: "GOVERNOR_CREDENTIALS_IGNORED", path: credentials.path }, warning);
  let backend: Backend;
  try {
    backend = config.backend === "gcp" ? gcpBackend(config, logger) : embeddedBackend(config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`governor serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const runtime = new Runtime({ config, credentials, ...backend, logger });
  const marketplace = new Marketplace(runtime);
  const google =
    backend.procurementApi === null
      ? undefined
      : new GoogleMarketplace({
          marketplace,
          api: backend.procurementApi,
          runtime,
          accounts: () => runtime.governors.accounts(),
          reconcileIntervalMs: config.reconcileIntervalMs,
        });
  const usage = backend.usageMeter === null ? undefined : usageReporter(runtime, marketplace, backend.usageMeter);
  const started = await startRuntime(runtime, logger);
  logger.info(started, "governors rebuilt from their ledgers");
  google?.start();
  usage?.start(config.usageIntervalMs);
  // A cancelled tenant's last window is billed before its ledger is archived.
  if (usage !== undefined) runtime.beforeArchive = (ledger) => usage.flush(ledger);
  const signup = marketplaceSignup(runtime, google, backend.procurementApi);
  const service = createGovernorService(runtime, marketplace, { ...(google === undefined ? {} : { google }), ...(signup === undefined ? {} : { signup }) });
  const { app } = buildHttpServer(service, { settings: config, credentials, logger });
  await backend.signals?.start(createSignalConsumer(service, { logger, maxMessageBytes: config.bodyLimitBytes }));
  const googleProviderId = config.marketplaceProviderId === "" ? {} : { googleProviderId: config.marketplaceProviderId };
  await backend.procurement?.start(createProcurementConsumer(service, { logger, maxMessageBytes: config.bodyLimitBytes, ...googleProviderId }));
  const address = await app.listen({ port: config.port, host: config.host });
  // With PORT=0 the port is chosen at start: tell whoever started us where we are.
  const addressFile = process.env["GOVERNOR_ADDRESS_FILE"];
  if (addressFile) writeFileSync(addressFile, `${address}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping: intake closed, finishing in-flight actions");
    try {
      await app.close();
      google?.stop();
      usage?.stop();
      await backend.detach();
      await runtime.stop();
      dataDirLock?.release();
      logger.info("stopped cleanly");
      process.exit(0);
    } catch (err) {
      logger.fatal({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  return new Promise<number>(() => {});
}

/** Sign-up from Google Cloud Marketplace, when a sign-up audience and a provider id are configured. */
function marketplaceSignup(runtime: Runtime, google: GoogleMarketplace | undefined, procurement: ProcurementApi | null): MarketplaceSignup | undefined {
  const config = runtime.config;
  if (config.signupAudience === "" || google === undefined || procurement === null) return undefined;
  return new MarketplaceSignup({
    verifier: createSignupTokenVerifier({ certsUrl: config.signupCertsUrl, audience: config.signupAudience, now: () => runtime.clock.now() }),
    procurement,
    recordPlatform: (draft) => runtime.recordPlatform(draft),
    tenantsOf: (id) => google.tenantsOf(id),
    clock: runtime.clock,
    health: runtime.health,
    retryAfterS: config.retryAfterS,
    logger: runtime.logger,
  });
}

/** The usage reporter over the runtime's governors and ledgers: windows of usage billed to Service Control. */
function usageReporter(runtime: Runtime, marketplace: Marketplace, meter: UsageMeter): UsageReporter {
  return new UsageReporter({
    meter,
    serviceName: runtime.config.marketplaceServiceName,
    clock: runtime.clock,
    logger: runtime.logger,
    alerts: runtime.alerts,
    degraded: () => runtime.health.degraded,
    tenants: () => runtime.governors.billed(),
    metering: (sku, version, plan) => runtime.catalog.resolve(sku, version)?.plans.get(plan)?.metering ?? [],
    read: (account, from, count) => runtime.store.read(account as LedgerId, from, count),
    record: (account, draft) => runtime.governors.record(account, draft),
    async suspend(account, reason) {
      const entitlementId = runtime.governors.entitlementOf(account) ?? account;
      await marketplace.setSuspended(account, true, { eventId: `usage-check-${runtime.clock.now()}`, entitlementId, reason });
    },
  });
}

/**
 * Starts the runtime, trying again while the ledger store does not answer (a
 * store still coming up, a network not there yet): each attempt says so in
 * the log, with a delay that grows to 10 s. Any other failure stops the start.
 * Nothing runs or is acknowledged before the start succeeds, and each step of
 * it (spool drain, rebuild) can be taken again.
 */
async function startRuntime(runtime: Runtime, logger: ReturnType<typeof createLogger>): ReturnType<Runtime["start"]> {
  for (let attempt = 1, delayMs = 500; ; attempt++, delayMs = Math.min(10_000, delayMs * 2)) {
    try {
      return await runtime.start();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      logger.warn({ code: err.code, attempt, retryInMs: delayMs, reason: err.message }, "the ledger store did not answer at start; trying again");
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
