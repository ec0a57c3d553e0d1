/**
 * A stand-in for Google Cloud Marketplace as the issuer of sign-up tokens:
 * RSA key pairs, each with a self-signed X.509 certificate, published as
 * Google publishes them (a JSON map `{kid: PEM}`) over real HTTP on
 * 127.0.0.1, and `sign()` to mint tokens the way Google does (RS256, `kid` in
 * the header, `iss` = the certificates' URL).
 *
 * The certificates are built here (DER by hand, signed with node:crypto) so
 * that no tool outside Node is needed.
 */
import { generateKeyPairSync, randomBytes, sign as rsaSign, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import { SignJWT, UnsecuredJWT } from "jose";

/** The certificates' path: Google's, so the URL reads like the real issuer. */
export const CERTS_PATH = "/robot/v1/metadata/x509/cloud-commerce-partner@system.gserviceaccount.com";

export interface SignOptions {
  /** The header's `kid` (default: the current key's). */
  readonly kid?: string;
  /** Sign with this key instead of the named kid's (a forged token). */
  readonly key?: KeyObject;
  /** `HS256` signs with a shared secret, `none` not at all (default RS256). */
  readonly alg?: "RS256" | "HS256" | "none";
  /** Leave `kid` out of the header. */
  readonly noKid?: boolean;
}

export interface SignupIssuer {
  /** The certificates' URL; the tokens' `iss`. */
  readonly url: string;
  /** The current key's id. */
  readonly kid: string;
  /** Certificate requests received. */
  readonly fetches: number;
  /** When true, requests are answered 503. */
  down: boolean;
  /** The `Cache-Control` header sent (null: none). */
  cacheControl: string | null;
  /** When set, this body is sent instead of the certificates. */
  body: string | null;
  /** The published map. */
  readonly certificates: Readonly<Record<string, string>>;
  /** A new key, published next to the old ones; it becomes the current key. Returns its kid. */
  rotate(): string;
  /** Drops a key from the published map. */
  retire(kid: string): void;
  /**
   * Mints a token: `claims` over defaults (`iss` = url, `aud` = the audience
   * given at creation, `iat` = `nowS`, `exp` = `nowS` + 300).
   */
  sign(claims: Record<string, unknown>, nowS: number, options?: SignOptions): Promise<string>;
  close(): Promise<void>;
}

/** Starts an issuer whose tokens are for `audience`. */
export async function startSignupIssuer(audience: string): Promise<SignupIssuer> {
  const keys = new Map<string, KeyObject>();
  const published: Record<string, string> = {};
  let current = "";
  let fetches = 0;
  const rotate = () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const kid = randomBytes(20).toString("hex");
    keys.set(kid, privateKey);
    published[kid] = selfSignedCertificate(privateKey, publicKey, `kid-${kid.slice(0, 8)}`);
    current = kid;
    return kid;
  };
  rotate();

  const state = { down: false, cacheControl: "public, max-age=3600" as string | null, body: null as string | null };
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== CERTS_PATH) {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    if (state.down) {
      res.writeHead(503, { "content-type": "text/plain" }).end("unavailable");
      return;
    }
    const headers: Record<string, string> = { "content-type": "application/json; charset=UTF-8" };
    if (state.cacheControl !== null) headers["cache-control"] = state.cacheControl;
    res.writeHead(200, headers).end(state.body ?? JSON.stringify(published));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}${CERTS_PATH}`;

  return {
    url,
    get kid() {
      return current;
    },
    get fetches() {
      return fetches;
    },
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    get cacheControl() {
      return state.cacheControl;
    },
    set cacheControl(v: string | null) {
      state.cacheControl = v;
    },
    get body() {
      return state.body;
    },
    set body(v: string | null) {
      state.body = v;
    },
    certificates: published,
    rotate,
    retire(kid) {
      delete published[kid];
    },
    async sign(claims, nowS, options = {}) {
      const payload = { iss: url, aud: audience, iat: nowS, exp: nowS + 300, ...claims };
      const alg = options.alg ?? "RS256";
      if (alg === "none") return new UnsecuredJWT(payload).encode();
      const kid = options.kid ?? current;
      const header = options.noKid === true ? { alg, typ: "JWT" } : { alg, kid, typ: "JWT" };
      const jwt = new SignJWT(payload).setProtectedHeader(header);
      if (alg === "HS256") return jwt.sign(randomBytes(32));
      const key = options.key ?? keys.get(kid);
      if (key === undefined) throw new Error(`no key ${kid}; pass options.key to sign under a kid the issuer does not have`);
      return jwt.sign(key);
    },
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

// ---- a self-signed X.509 v3 certificate, in DER ------------------------------

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const sequence = (...parts: Buffer[]) => tlv(0x30, ...parts);

function integer(bytes: Buffer): Buffer {
  return tlv(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  return tlv(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`));
}

const commonName = (cn: string) => sequence(tlv(0x31, sequence(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn)))));

/** A certificate for `publicKey`, signed by its own private key (sha256WithRSAEncryption), as PEM. */
export function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, cn: string): string {
  const sha256WithRsa = sequence(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00]));
  const name = commonName(cn);
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(randomBytes(8)),
    sha256WithRsa,
    name,
    sequence(utcTime(new Date(Date.UTC(2020, 0, 1))), utcTime(new Date(Date.UTC(2049, 0, 1)))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = rsaSign("sha256", tbs, privateKey);
  const der = sequence(tbs, sha256WithRsa, tlv(0x03, Buffer.from([0]), signature));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}
