/**
 * Platform bearer tokens, webhook secrets and checkpoint signing keys.
 *
 * On the embedded default, a first start with none configured generates them
 * into `<data dir>/credentials.json` (mode 0600) and says where (never what).
 * Environment variables override the file, one by one.
 *
 * Tenants have no token here: each tenant's tokens are issued through the API
 * (`POST /v1/tenants/{account}/tokens`) and act on that tenant alone
 * (`app/tenant-tokens.ts`). A file from before that still holding a
 * shared `tenant` token loads; the token is ignored, with a warning.
 */
import { randomBytes, timingSafeEqual, hash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { generateSignerKey, signerKeyFromString, signerKeyToString, type SignerKey } from "./ledger/checkpoint.ts";

/** The scope of a request's bearer token. `tenant`: a tenant token, issued per tenant, never in this file. */
export const Scope = {
  admin: "admin",
  operator: "operator",
  auditor: "auditor",
  gitops: "gitops",
  tenant: "tenant",
} as const;
export type Scope = (typeof Scope)[keyof typeof Scope];

/** The scopes whose tokens are configured here (the file or the environment). */
export const platformScopes = ["admin", "operator", "auditor", "gitops"] as const;
export type PlatformScope = (typeof platformScopes)[number];

const CredentialsFile = z.strictObject({
  // `tenant` is still read so that an older file loads; its token is ignored.
  tokens: z.strictObject({
    admin: z.string().min(16),
    operator: z.string().min(16),
    auditor: z.string().min(16),
    gitops: z.string().min(16),
    tenant: z.string().min(16).optional(),
  }),
  webhook_secrets: z.array(z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/)).min(1),
  signing_keys: z.array(z.string().startsWith("PRIVATE+KEY+")).min(1),
});

export interface Credentials {
  /** Token → scope; compared in constant time. */
  readonly tokens: ReadonlyMap<PlatformScope, string>;
  /** Every active webhook secret (rotation: more than one). */
  readonly webhookSecrets: readonly string[];
  /** Signing keys; every checkpoint carries a signature by each. */
  readonly signers: readonly SignerKey[];
  /** Where they came from, for the start-up log. */
  readonly source: string;
}

const envTokens: Record<PlatformScope, string> = {
  admin: "GOVERNOR_ADMIN_TOKEN",
  operator: "GOVERNOR_OPERATOR_TOKEN",
  auditor: "GOVERNOR_AUDITOR_TOKEN",
  gitops: "GOVERNOR_GITOPS_TOKEN",
};

function newToken(scope: PlatformScope): string {
  return `gov_${scope}_${randomBytes(24).toString("base64url")}`;
}

/**
 * Loads credentials: environment first, then `<dataDir>/credentials.json`,
 * generating that file on first start. `warnings` says what was ignored
 * (never a secret).
 */
export function loadCredentials(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  signerName = "governor",
): Credentials & { generated: boolean; path: string; warnings: readonly string[] } {
  const warnings: string[] = [];
  const path = join(dataDir, "credentials.json");
  let generated = false;
  let file: z.infer<typeof CredentialsFile>;
  if (existsSync(path)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch {
      throw new Error(`${path} is not valid JSON; fix or remove it (a new one is generated when it is absent)`);
    }
    const parsed = CredentialsFile.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`${path} is not a valid credentials file: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    }
    file = parsed.data;
    if (file.tokens.tenant !== undefined) {
      warnings.push(`${path} holds a shared "tenant" token; it is ignored (each tenant's tokens are issued with POST /v1/tenants/{account}/tokens); remove it from the file`);
    }
  } else {
    mkdirSync(dataDir, { recursive: true });
    file = {
      tokens: Object.fromEntries(platformScopes.map((s) => [s, newToken(s)])) as Record<PlatformScope, string>,
      webhook_secrets: [`whsec_${randomBytes(32).toString("base64")}`],
      signing_keys: [signerKeyToString(generateSignerKey(signerName))],
    };
    writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    generated = true;
  }
  if (env["GOVERNOR_TENANT_TOKEN"]) {
    warnings.push("GOVERNOR_TENANT_TOKEN is set and ignored: there is no shared tenant token; issue each tenant its own with POST /v1/tenants/{account}/tokens");
  }
  const tokens = new Map<PlatformScope, string>();
  for (const scope of platformScopes) {
    const value = env[envTokens[scope]] ?? file.tokens[scope];
    if (value !== undefined && value.length > 0) tokens.set(scope, value);
  }
  const secrets = env["GOVERNOR_WEBHOOK_SECRETS"]?.split(",").map((s) => s.trim()).filter(Boolean) ?? file.webhook_secrets;
  const keyStrings = env["GOVERNOR_SIGNING_KEYS"]?.split(/[\n,]/).map((s) => s.trim()).filter(Boolean) ?? file.signing_keys;
  const signers = keyStrings.map((k, i) => {
    try {
      return signerKeyFromString(k);
    } catch (err) {
      // Never echo the key itself.
      throw new Error(`signing key #${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
  return { tokens, webhookSecrets: secrets, signers, source: path, generated, path, warnings };
}

/** SHA-256 of each configured token, computed once per set of credentials. */
const tokenDigests = new WeakMap<Credentials, readonly (readonly [PlatformScope, Buffer])[]>();

/** SHA-256 of a presented bearer token: what platform and tenant tokens are both looked up by. */
export function bearerDigest(presented: string): Buffer {
  return hash("sha256", presented, "buffer");
}

/**
 * Which scope a presented bearer token has. The presented token's digest is
 * compared in constant time against every configured token's (all of them,
 * whatever matches first), so timing tells nothing about which one matched.
 */
export function scopeOfToken(credentials: Credentials, presented: string): PlatformScope | null {
  return scopeOfDigest(credentials, bearerDigest(presented));
}

/** `scopeOfToken` for a token whose digest (`bearerDigest`) the caller has already. */
export function scopeOfDigest(credentials: Credentials, p: Buffer): PlatformScope | null {
  let digests = tokenDigests.get(credentials);
  if (digests === undefined) {
    digests = [...credentials.tokens].map(([scope, token]) => [scope, bearerDigest(token)] as const);
    tokenDigests.set(credentials, digests);
  }
  let found: PlatformScope | null = null;
  for (const [scope, d] of digests) {
    if (timingSafeEqual(p, d) && found === null) found = scope;
  }
  return found;
}
