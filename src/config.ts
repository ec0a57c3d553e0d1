/**
 * Every setting of the service, from the environment, validated once at
 * start. The README lists them; `governor serve --help` prints them.
 */
import { resolve } from "node:path";
import { z } from "zod";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The settings, their environment variables, defaults and meanings. */
export const settings = {
  port: { env: "PORT", schema: int(0, 65535), default: 8080, doc: "HTTP port" },
  host: { env: "HOST", schema: z.string().min(1), default: "127.0.0.1", doc: "address to listen on (0.0.0.0 in a container)" },
  dataDir: { env: "GOVERNOR_DATA_DIR", schema: z.string().min(1), default: "./.governor", doc: "ledger, spool, archives, credentials" },
  policiesDir: { env: "GOVERNOR_POLICIES_DIR", schema: z.string().min(1), default: "./policies", doc: "policy documents loaded and watched at start" },
  policyWatch: {
    env: "GOVERNOR_POLICY_WATCH",
    schema: z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1"),
    default: true,
    doc: "push a policy file when it is edited in the policies directory",
  },
  backend: { env: "GOVERNOR_BACKEND", schema: z.enum(["embedded", "gcp"]), default: "embedded", doc: "embedded (SQLite, one process) or gcp" },
  originPrefix: { env: "GOVERNOR_ORIGIN_PREFIX", schema: z.string().regex(/^[^\s/][^\s]*$/), default: "governor.local", doc: "checkpoint origin prefix: origin = <prefix>/<ledger>" },
  logLevel: { env: "LOG_LEVEL", schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), default: "info", doc: "log level" },
  healthIntervalMs: { env: "GOVERNOR_HEALTH_INTERVAL_MS", schema: int(100, 3_600_000), default: 10_000, doc: "store health probe interval" },
  probeDeadlineMs: { env: "GOVERNOR_PROBE_DEADLINE_MS", schema: int(10, 60_000), default: 2_000, doc: "hard deadline of one health probe" },
  probeFailures: { env: "GOVERNOR_PROBE_FAILURES", schema: int(1, 100), default: 3, doc: "failed probes in a row before safe mode" },
  scaleIntervalMs: { env: "GOVERNOR_SCALE_INTERVAL_MS", schema: int(0, 3_600_000), default: 1000, doc: "how often the scaler looks at lag (0: never)" },
  drainMs: { env: "GOVERNOR_DRAIN_MS", schema: int(0, 600_000), default: 30_000, doc: "how long a cancel waits for in-flight actions" },
  shutdownDrainMs: { env: "GOVERNOR_SHUTDOWN_DRAIN_MS", schema: int(0, 600_000), default: 10_000, doc: "how long SIGTERM waits for in-flight actions" },
  bodyLimitBytes: { env: "GOVERNOR_BODY_LIMIT_BYTES", schema: int(1024, 64 * 1024 * 1024), default: 64 * 1024, doc: "largest request body accepted" },
  maxParamsBytes: { env: "GOVERNOR_MAX_PARAMS_BYTES", schema: int(2, 16 * 1024 * 1024), default: 16 * 1024, doc: "largest signal params accepted (JSON bytes)" },
  signalDurableMs: {
    env: "GOVERNOR_SIGNAL_DURABLE_MS",
    schema: int(10, 600_000),
    default: 2_000,
    doc: "how long a signal's caller waits for its receipt to become durable; past it: 503 SIGNAL_NOT_DURABLE at once (retry with the same signal_id)",
  },
  webhookToleranceS: { env: "GOVERNOR_WEBHOOK_TOLERANCE_S", schema: int(1, 86_400), default: 300, doc: "accepted clock skew of webhook timestamps" },
  memoryReclaimMs: {
    env: "GOVERNOR_MEMORY_RECLAIM_MS",
    schema: int(0, 3_600_000),
    default: 30_000,
    doc: "quiet this long after work: give memory back with one memory-reducing collection (0: never)",
  },
  youngGcMs: {
    env: "GOVERNOR_YOUNG_GC_MS",
    schema: int(0, 3_600_000),
    default: 100,
    doc: "quiet this long after work: collect the young generation, so what the work left alive is not copied during the next burst (0: never)",
  },
  checkpointIntervalMs: { env: "GOVERNOR_CHECKPOINT_INTERVAL_MS", schema: int(0, 60_000), default: 1000, doc: "a checkpoint follows every committed batch within this interval (at most one per ledger per interval)" },
  gcpProject: { env: "GOOGLE_CLOUD_PROJECT", schema: z.string(), default: "", doc: "gcp: the Google Cloud project (required with --backend gcp)" },
  archiveBucket: { env: "GOVERNOR_ARCHIVE_BUCKET", schema: z.string(), default: "", doc: "gcp: bucket for archives of cancelled tenants (required)" },
  policyBucket: { env: "GOVERNOR_POLICY_BUCKET", schema: z.string(), default: "", doc: "gcp: bucket of the policy registry (required)" },
  firestorePrefix: { env: "GOVERNOR_FIRESTORE_PREFIX", schema: z.string().regex(/^[A-Za-z0-9_-]*$/), default: "", doc: "gcp: prefix of Governor's Firestore collections" },
  storeTimeoutMs: { env: "GOVERNOR_STORE_TIMEOUT_MS", schema: int(100, 120_000), default: 5000, doc: "gcp: deadline of every ledger store call" },
  deliveryAttempts: { env: "GOVERNOR_PUBSUB_MAX_ATTEMPTS", schema: int(5, 100), default: 5, doc: "gcp: deliveries of an undecodable message before it is dead-lettered" },
  procurementTopic: { env: "GOVERNOR_PROCUREMENT_TOPIC", schema: z.string(), default: "", doc: "gcp: Marketplace procurement topic, in this project or in full (projects/…/topics/…); empty: webhooks only" },
  procurementSubscription: { env: "GOVERNOR_PROCUREMENT_SUBSCRIPTION", schema: z.string(), default: "governor-procurement", doc: "gcp: our subscription on the procurement topic" },
  marketplaceProviderId: {
    env: "GOVERNOR_MARKETPLACE_PROVIDER_ID",
    schema: z.string().regex(/^([A-Za-z0-9][A-Za-z0-9_-]{0,127})?$/, "expected a provider id: letters, digits, '_', '-'"),
    default: "",
    doc: "Google Cloud Marketplace: your partner (provider) id; procurement events are then Google's notifications, read through the Partner Procurement API (empty: the procurement topic carries full events, as the webhook does)",
  },
  marketplaceServiceName: {
    env: "GOVERNOR_MARKETPLACE_SERVICE_NAME",
    schema: z.string().regex(/^([a-z0-9][a-z0-9.-]{0,252})?$/, "expected a service name such as example.gcpmarketplace.example.com"),
    default: "",
    doc: "Google Cloud Marketplace: your product's service name at Service Control; usage is billed to it (empty: no usage reports)",
  },
  signupAudience: {
    env: "GOVERNOR_SIGNUP_AUDIENCE",
    schema: z.string().max(253),
    default: "",
    doc: "Google Cloud Marketplace: the sign-up token's expected audience, your sign-up domain (empty: POST /v1/marketplace/signup answers 404)",
  },
  procurementApiUrl: {
    env: "GOVERNOR_PROCUREMENT_API_URL",
    schema: z.url({ protocol: /^https?$/ }),
    default: "https://cloudcommerceprocurement.googleapis.com/",
    doc: "root URL of the Partner Procurement API",
  },
  serviceControlUrl: {
    env: "GOVERNOR_SERVICE_CONTROL_URL",
    schema: z.url({ protocol: /^https?$/ }),
    default: "https://servicecontrol.googleapis.com/",
    doc: "root URL of Service Control",
  },
  signupCertsUrl: {
    env: "GOVERNOR_SIGNUP_CERTS_URL",
    schema: z.url({ protocol: /^https?$/ }),
    default: "https://www.googleapis.com/robot/v1/metadata/x509/cloud-commerce-partner@system.gserviceaccount.com",
    doc: "where the sign-up token's signing certificates are published (the token's issuer)",
  },
  googleApiAuth: {
    env: "GOVERNOR_GOOGLE_API_AUTH",
    schema: z.enum(["adc", "none"]),
    default: "adc",
    doc: "credentials for the Procurement API and Service Control: adc (Application Default Credentials) or none (a local double)",
  },
  reconcileIntervalMs: {
    env: "GOVERNOR_RECONCILE_INTERVAL_MS",
    schema: int(0, 86_400_000),
    default: 3_600_000,
    doc: "Google Cloud Marketplace: how often every entitlement is compared with the Procurement API (0: never)",
  },
  usageIntervalMs: {
    env: "GOVERNOR_USAGE_INTERVAL_MS",
    schema: int(0, 3_600_000),
    default: 300_000,
    doc: "Google Cloud Marketplace: how often the usage reporter looks: a window is reported once its hour has passed, and a failed report sent again, within this (0: never)",
  },
  retryAfterS: { env: "GOVERNOR_RETRY_AFTER_S", schema: int(1, 3600), default: 10, doc: "Retry-After sent with 503 in safe mode" },
} as const;

type Settings = typeof settings;
export type Config = { -readonly [K in keyof Settings]: z.infer<Settings[K]["schema"]> };

/** A setting that does not parse: names the variable and what it expects. */
export class ConfigError extends Error {
  readonly code = "GOVERNOR_CONFIG_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, s] of Object.entries(settings)) {
    if (key in overrides) {
      out[key] = overrides[key as keyof Config];
      continue;
    }
    const raw = env[s.env];
    if (raw === undefined || raw === "") {
      out[key] = s.default;
      continue;
    }
    const parsed = (s.schema as z.ZodType).safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${s.env}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? "invalid"} (${s.doc})`);
  }
  if (out["signupAudience"] !== "" && out["marketplaceProviderId"] === "") {
    problems.push("GOVERNOR_SIGNUP_AUDIENCE is set but GOVERNOR_MARKETPLACE_PROVIDER_ID is not: sign-up approves accounts through the Procurement API, which needs your provider id");
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  const config = out as Config;
  config.dataDir = resolve(config.dataDir);
  config.policiesDir = resolve(config.policiesDir);
  return config;
}

/** The settings as a table for `--help` and the README. */
export function describeSettings(): string {
  return Object.values(settings)
    .map((s) => `  ${s.env.padEnd(32)} ${String(s.default).padEnd(16)} ${s.doc}`)
    .join("\n");
}
