/**
 * Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.
 *
 *   body      = "<origin>\n<tree size>\n<base64 root>\n" [extension lines]
 *   note      = body "\n" { "— " <key name> " " base64(key id ‖ signature) "\n" }
 *   key id    = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0:4]
 *   verifier  = "<name>+<hex key id>+<base64(0x01 ‖ public key)>"
 *   private   = "PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>"
 *
 * A note may carry several signatures (key rotation). A verifier trusts the
 * keys it is given: signatures by other keys are ignored, a signature by a
 * trusted key that does not verify is an error, and at least one trusted
 * signature must verify.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";

const ALG_ED25519 = 0x01;
const SIG_PREFIX = "\u2014 ";
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export interface Verifier {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly verifierKey: string;
}

export interface SignerKey extends Verifier {
  readonly privateKey: KeyObject;
}

/** Errors of this module carry a stable `code`. */
export class KeyFormatError extends Error {
  readonly code = "KEY_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "KeyFormatError";
  }
}
export class CheckpointFormatError extends Error {
  readonly code = "CHECKPOINT_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "CheckpointFormatError";
  }
}
export class NoteFormatError extends Error {
  readonly code = "NOTE_FORMAT";
  constructor(message: string) {
    super(message);
    this.name = "NoteFormatError";
  }
}
export class NoteVerificationError extends Error {
  readonly code = "NOTE_BAD_SIGNATURE";
  constructor(message: string) {
    super(message);
    this.name = "NoteVerificationError";
  }
}
export class NoTrustedSignatureError extends Error {
  readonly code = "NO_TRUSTED_SIGNATURE";
  constructor(message = "no trusted signature") {
    super(message);
    this.name = "NoTrustedSignatureError";
  }
}

/** A key name: non-empty, printable, no spaces and no '+' (signed-note). */
function validName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !hasControl(name, false);
}

/** ASCII control characters (newline allowed when `newline`). */
function hasControl(text: string, newline: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && !(newline && c === 0x0a)) || c === 0x7f) return true;
  }
  return false;
}

function keyIdOf(name: string, publicKey: Uint8Array): Uint8Array {
  const h = createHash("sha256").update(name, "utf8").update(Buffer.from([0x0a, ALG_ED25519])).update(publicKey).digest();
  return new Uint8Array(h.subarray(0, 4));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");

/** Splits on '+' into at most `n` fields; the last keeps the rest (base64 may contain '+'). */
function splitFields(s: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf("+");
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  out.push(rest);
  return out;
}

function decodeBase64Strict(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return null;
  return Buffer.from(s, "base64");
}

function verifierFrom(name: string, publicKey: Uint8Array): Verifier {
  const keyId = keyIdOf(name, publicKey);
  return { name, keyId, publicKey, verifierKey: `${name}+${hex(keyId)}+${b64(Buffer.concat([Buffer.from([ALG_ED25519]), publicKey]))}` };
}

/** The signing key of a 32-byte Ed25519 seed (deterministic; for fixtures and key import). */
export function signerKeyFromSeed(name: string, seed: Uint8Array): SignerKey {
  if (!validName(name)) throw new KeyFormatError(`key name "${name}" must be non-empty with no spaces or '+'`);
  if (seed.length !== 32) throw new KeyFormatError("an Ed25519 seed is 32 bytes");
  return signerFromSeed(name, seed);
}

function signerFromSeed(name: string, seed: Uint8Array): SignerKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const jwk = createPublicKey(privateKey).export({ format: "jwk" });
  const publicKey = new Uint8Array(Buffer.from(jwk.x!, "base64url"));
  return { ...verifierFrom(name, publicKey), privateKey };
}

/** A new Ed25519 signing key. */
export function generateSignerKey(name: string): SignerKey {
  if (!validName(name)) throw new KeyFormatError(`key name "${name}" must be non-empty with no spaces or '+'`);
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  return signerFromSeed(name, new Uint8Array(Buffer.from(jwk.d!, "base64url")));
}

/** The private key text (keep it secret). */
export function signerKeyToString(k: SignerKey): string {
  const seed = Buffer.from(k.privateKey.export({ format: "jwk" }).d!, "base64url");
  return `PRIVATE+KEY+${k.name}+${hex(k.keyId)}+${b64(Buffer.concat([Buffer.from([ALG_ED25519]), seed]))}`;
}

/** Parses `PRIVATE+KEY+<name>+<hexid>+<base64(0x01 ‖ seed)>`. Messages never include the key material. */
export function signerKeyFromString(s: string): SignerKey {
  const parts = splitFields(s.trim(), 5);
  if (parts.length !== 5 || parts[0] !== "PRIVATE" || parts[1] !== "KEY") {
    throw new KeyFormatError("a signing key has the form PRIVATE+KEY+<name>+<hex key id>+<base64 key>");
  }
  const [, , name, id, data] = parts as [string, string, string, string, string];
  if (!validName(name)) throw new KeyFormatError("the signing key's name is empty or has spaces");
  const raw = decodeBase64Strict(data);
  if (raw === null) throw new KeyFormatError("the signing key's data is not base64");
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw new KeyFormatError("the signing key is not an Ed25519 key (0x01 followed by a 32-byte seed)");
  const key = signerFromSeed(name, new Uint8Array(raw.subarray(1)));
  if (!/^[0-9a-f]{8}$/.test(id) || id !== hex(key.keyId)) throw new KeyFormatError("the signing key's id does not match its key");
  return key;
}

/** Parses a verifier key string `<name>+<hex key id>+<base64(0x01 ‖ public key)>`. */
export function parseVerifierKey(s: string): Verifier {
  const text = s.trim();
  const parts = splitFields(text, 3);
  if (parts.length !== 3) throw new KeyFormatError(`verifier key "${text.slice(0, 80)}" does not have the form <name>+<hex key id>+<base64 key>`);
  const [name, id, data] = parts as [string, string, string];
  if (!validName(name)) throw new KeyFormatError(`verifier key name "${name.slice(0, 40)}" is empty or has spaces`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new KeyFormatError(`verifier key id "${id.slice(0, 20)}" is not 8 lowercase hex digits`);
  const raw = decodeBase64Strict(data);
  if (raw === null) throw new KeyFormatError(`verifier key "${name}": key data is not base64`);
  if (raw.length === 0 || raw[0] !== ALG_ED25519) throw new KeyFormatError(`verifier key "${name}": unknown algorithm (expected 0x01, Ed25519)`);
  if (raw.length !== 33) throw new KeyFormatError(`verifier key "${name}": an Ed25519 public key is 32 bytes, found ${raw.length - 1}`);
  const v = verifierFrom(name, new Uint8Array(raw.subarray(1)));
  if (hex(v.keyId) !== id) throw new KeyFormatError(`verifier key "${name}": key id ${id} does not match the key (expected ${hex(v.keyId)})`);
  return v;
}

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
}

/** The checkpoint body text. */
export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin.length === 0 || /[\n]/.test(c.origin)) throw new CheckpointFormatError("origin must be one non-empty line");
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new CheckpointFormatError("size must be a non-negative integer");
  if (c.root.length !== 32) throw new CheckpointFormatError("root must be 32 bytes");
  return `${c.origin}\n${c.size}\n${b64(c.root)}\n`;
}

/** Parses a checkpoint body. */
export function parseCheckpoint(body: string): Checkpoint & { extensions: string[] } {
  if (!body.endsWith("\n")) throw new CheckpointFormatError("checkpoint body must end with a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw new CheckpointFormatError(`checkpoint body needs 3 lines (origin, size, root); found ${lines.length}`);
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new CheckpointFormatError("checkpoint origin line is empty");
  if (!/^(0|[1-9]\d*)$/.test(sizeText)) throw new CheckpointFormatError(`checkpoint size "${sizeText.slice(0, 30)}" is not a decimal number without leading zeros`);
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new CheckpointFormatError(`checkpoint size ${sizeText.slice(0, 30)} is too large`);
  const root = decodeBase64Strict(rootText);
  if (root === null || root.length !== 32) throw new CheckpointFormatError("checkpoint root is not the base64 of 32 bytes");
  if (extensions.some((e) => e.length === 0)) throw new CheckpointFormatError("checkpoint has an empty extension line");
  return { origin, size, root: new Uint8Array(root), extensions };
}

/** Signs a note body with every signer. */
export function signNote(body: string, signers: readonly SignerKey[]): string {
  if (!body.endsWith("\n")) throw new NoteFormatError("note text must end with a newline");
  if (body.includes("\n\n")) throw new NoteFormatError("note text must not contain a blank line");
  if (signers.length === 0) throw new NoteFormatError("a note needs at least one signer");
  const data = Buffer.from(body, "utf8");
  let out = `${body}\n`;
  for (const s of signers) {
    const sig = sign(null, data, s.privateKey);
    out += `${SIG_PREFIX}${s.name} ${b64(Buffer.concat([s.keyId, sig]))}\n`;
  }
  return out;
}

const publicKeys = new WeakMap<Verifier, KeyObject>();
function keyObject(v: Verifier): KeyObject {
  let k = publicKeys.get(v);
  if (k === undefined) {
    k = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(v.publicKey).toString("base64url") }, format: "jwk" });
    publicKeys.set(v, k);
  }
  return k;
}

/** Opens a signed note: checks its form and its signatures against the trusted keys. */
export function openNote(note: string, trusted: readonly Verifier[]): { body: string; verifiedBy: string[]; unknownSigners: string[] } {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteFormatError("signed note has no blank line before its signatures");
  const body = note.slice(0, split + 1);
  const sigs = note.slice(split + 2);
  if (sigs.length === 0 || !sigs.endsWith("\n")) throw new NoteFormatError("signed note has no signature lines, or they do not end with a newline");
  if (hasControl(body, true)) throw new NoteFormatError("note text contains control characters");
  const data = Buffer.from(body, "utf8");
  const verifiedBy: string[] = [];
  const unknownSigners: string[] = [];
  for (const line of sigs.slice(0, -1).split("\n")) {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteFormatError(`signature line does not start with "— ": ${JSON.stringify(line.slice(0, 40))}`);
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const encoded = space < 0 ? "" : rest.slice(space + 1);
    const raw = decodeBase64Strict(encoded);
    if (!validName(name) || raw === null || encoded === "" || raw.length < 5) throw new NoteFormatError(`malformed signature line for "${name.slice(0, 40)}"`);
    const keyId = raw.subarray(0, 4);
    const signature = raw.subarray(4);
    const key = trusted.find((t) => t.name === name && Buffer.from(t.keyId).equals(keyId));
    if (key === undefined) {
      unknownSigners.push(`${name}+${hex(keyId)}`);
      continue;
    }
    if (signature.length !== 64 || !verify(null, data, keyObject(key), signature)) {
      throw new NoteVerificationError(`signature by trusted key ${name}+${hex(keyId)} does not verify`);
    }
    if (!verifiedBy.includes(key.verifierKey)) verifiedBy.push(key.verifierKey);
  }
  if (verifiedBy.length === 0) throw new NoTrustedSignatureError();
  return { body, verifiedBy, unknownSigners };
}

/** Signs a checkpoint. */
export function signCheckpoint(c: Checkpoint, signers: readonly SignerKey[]): string {
  return signNote(formatCheckpoint(c), signers);
}

/** Opens a signed checkpoint and parses its body. */
export function openCheckpoint(note: string, trusted: readonly Verifier[]) {
  const opened = openNote(note, trusted);
  return { ...opened, checkpoint: parseCheckpoint(opened.body) };
}
