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
import { StoreUnavailableError } from "../ports/index.ts";
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
  const started = await startRuntime(runtime, logger);
  logger.info(started, "governors rebuilt from their ledgers");
  const service = createGovernorService(runtime, marketplace);
  const { app } = buildHttpServer(service, { settings: config, credentials, logger });
  await backend.signals?.start(createSignalConsumer(service, { logger, maxMessageBytes: config.bodyLimitBytes }));
  await backend.procurement?.start(createProcurementConsumer(service, { logger, maxMessageBytes: config.bodyLimitBytes }));
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
