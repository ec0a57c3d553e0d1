/**
 * Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with
 * Ed25519 (signature type 0x01), interoperable with golang.org/x/mod/sumdb/note.
 *
 *   body      = <origin> "\n" <tree size> "\n" <base64 root> "\n" { <extension line> "\n" }
 *   note      = body "\n" 1*( "— " <key name> " " base64(key id ‖ signature) "\n" )
 *   key id    = SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[0:4]
 *   verifier  = <key name> "+" hex(key id) "+" base64(0x01 ‖ public key)
 *   private   = "PRIVATE+KEY+" <key name> "+" hex(key id) "+" base64(0x01 ‖ 32-byte seed)
 *
 * A note may carry several signatures (key rotation, witnesses). Opening a
 * note against a set of trusted keys: signatures by other keys are ignored
 * (and reported), a signature by a trusted key (same name and key id) must
 * verify or the note is rejected, and at least one trusted signature must
 * verify.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";

/** Signature type byte of Ed25519 in signed notes. */
const ALG_ED25519 = 0x01;
const ED25519_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const KEY_ID_SIZE = 4;
const ROOT_SIZE = 32;
/** Signature lines start with an em dash (U+2014) and a space. */
const SIGNATURE_PREFIX = "\u2014 ";
/** PKCS #8 DER header of an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/** Most signature lines a note may carry (signed-note requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;
/** Longest note accepted, in UTF-16 code units. */
export const MAX_NOTE_LENGTH = 1 << 20;

/** Stable codes of this module's errors. */
export const CheckpointErrorCode = {
  keyFormat: "KEY_FORMAT",
  checkpointFormat: "CHECKPOINT_FORMAT",
  noteFormat: "NOTE_FORMAT",
  badSignature: "NOTE_BAD_SIGNATURE",
  noTrustedSignature: "NO_TRUSTED_SIGNATURE",
} as const;
export type CheckpointErrorCode = (typeof CheckpointErrorCode)[keyof typeof CheckpointErrorCode];

/** A public key that can verify note signatures. */
export interface Verifier {
  /** Key name (for checkpoints, usually the log's origin). */
  readonly name: string;
  /** 4-byte key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[0:4]. */
  readonly keyId: Uint8Array;
  /** 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The verifier key string `name+hexkeyid+base64(0x01 ‖ public key)`. */
  readonly verifierKey: string;
}

/** A signing key: its public half as a `Verifier`, and the private key (never logged, never in errors). */
export interface SignerKey extends Verifier {
  readonly privateKey: KeyObject;
}

/** A checkpoint: the tree head a signed note commits to. */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  /** 32-byte RFC 6962 root. */
  readonly root: Uint8Array;
}

/** A parsed checkpoint body. */
export interface ParsedCheckpoint extends Checkpoint {
  /** Lines after the root, if any (opaque, non-empty). */
  readonly extensions: string[];
}

/** What `openNote` found. */
export interface OpenedNote {
  /** The note text (the signed bytes, as a string), ending in "\n". */
  readonly body: string;
  /** Verifier key strings of the trusted keys whose signatures verified, in note order. */
  readonly verifiedBy: string[];
  /** `name+hexkeyid` of signatures by keys not trusted (ignored), in note order. */
  readonly unknownSigners: string[];
}

/** A key string (private, verifier) or key name is malformed, or trusted keys are ambiguous. */
export class KeyFormatError extends Error {
  readonly code = CheckpointErrorCode.keyFormat;
  constructor(message: string) {
    super(message);
    this.name = "KeyFormatError";
  }
}

/** A checkpoint body is not a C2SP tlog-checkpoint. */
export class CheckpointFormatError extends Error {
  readonly code = CheckpointErrorCode.checkpointFormat;
  constructor(message: string) {
    super(message);
    this.name = "CheckpointFormatError";
  }
}

/** A note is not a well-formed C2SP signed note (or cannot be signed as one). */
export class NoteFormatError extends Error {
  readonly code = CheckpointErrorCode.noteFormat;
  constructor(message: string) {
    super(message);
    this.name = "NoteFormatError";
  }
}

/** A signature by a trusted key (same name and key id) does not verify: the note was altered or forged. */
export class NoteVerificationError extends Error {
  readonly code = CheckpointErrorCode.badSignature;
  /** `name+hexkeyid` of the key whose signature failed. */
  readonly signer: string;
  constructor(signer: string) {
    super(`the signature by trusted key ${signer} does not verify: the note was altered or not signed by that key`);
    this.name = "NoteVerificationError";
    this.signer = signer;
  }
}

/** No signature by a trusted key: the note may be intact, but nothing says who wrote it. */
export class NoTrustedSignatureError extends Error {
  readonly code = CheckpointErrorCode.noTrustedSignature;
  /** `name+hexkeyid` of the signatures found (none trusted). */
  readonly unknownSigners: readonly string[];
  constructor(unknownSigners: readonly string[]) {
    super(
      unknownSigners.length === 0
        ? "no trusted signature: the note carries no signature"
        : `no trusted signature: the note is signed only by ${unknownSigners.join(", ")}, none of them a trusted key`,
    );
    this.name = "NoTrustedSignatureError";
    this.unknownSigners = unknownSigners;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
const quote = (s: string, max = 60): string => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);

/** Unicode spaces as Go's unicode.IsSpace sees them (signed-note forbids them in key names). */
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const CONTROL_OR_NEWLINE = /[\u0000-\u001f]/;

/** Why `name` cannot be a key name, or null if it can. */
function nameProblem(name: string): string | null {
  if (name.length === 0) return "is empty";
  if (!name.isWellFormed()) return "is not valid Unicode (lone surrogate)";
  if (name.includes("+")) return "contains '+'";
  if (SPACE.test(name)) return "contains a space";
  if (CONTROL_OR_NEWLINE.test(name)) return "contains a control character";
  return null;
}

/** Standard base64 with padding (RFC 4648 §4), as Go's base64.StdEncoding decodes it; null if it is not. */
function decodeBase64(s: string): Buffer | null {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  return Buffer.from(s, "base64");
}

function keyIdOf(name: string, publicKey: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(name, "utf8").update(Uint8Array.of(0x0a, ALG_ED25519)).update(publicKey).digest();
  return new Uint8Array(digest.subarray(0, KEY_ID_SIZE));
}

/**
 * The `Verifier` of an Ed25519 public key under `name` (its key id and
 * verifier key string computed as signed-note specifies).
 * @throws {KeyFormatError} when the name is not a valid key name or the key is not 32 bytes.
 */
export function verifierFromPublicKey(name: string, publicKey: Uint8Array): Verifier {
  const problem = nameProblem(name);
  if (problem !== null) throw new KeyFormatError(`key name ${quote(name)} ${problem}`);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_SIZE) {
    throw new KeyFormatError(`an Ed25519 public key is ${ED25519_KEY_SIZE} bytes`);
  }
  const key = publicKey.slice();
  const keyId = keyIdOf(name, key);
  const verifierKey = `${name}+${hex(keyId)}+${base64(Uint8Array.of(ALG_ED25519, ...key))}`;
  return { name, keyId, publicKey: key, verifierKey };
}

/**
 * The Ed25519 signing key with the given 32-byte seed (RFC 8032 private
 * key), named `name`: deterministic, for fixtures and for keys kept
 * elsewhere as raw seeds.
 * @throws {KeyFormatError} when the name is not a valid key name or the seed is not 32 bytes.
 */
export function signerKeyFromSeed(name: string, seed: Uint8Array): SignerKey {
  const problem = nameProblem(name);
  if (problem !== null) throw new KeyFormatError(`key name ${quote(name)} ${problem}`);
  if (!(seed instanceof Uint8Array) || seed.length !== ED25519_KEY_SIZE) throw new KeyFormatError(`an Ed25519 seed is ${ED25519_KEY_SIZE} bytes`);
  return signerFromSeed(name, seed);
}

function signerFromSeed(name: string, seed: Uint8Array): SignerKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const x = createPublicKey(privateKey).export({ format: "jwk" }).x;
  if (x === undefined) throw new KeyFormatError("signing key: the public key could not be derived");
  return { ...verifierFromPublicKey(name, new Uint8Array(Buffer.from(x, "base64url"))), privateKey };
}

/**
 * A new random Ed25519 signing key named `name` (for checkpoints, the origin
 * prefix or the origin).
 * @throws {KeyFormatError} when `name` is empty or contains a space, '+' or a control character.
 */
export function generateSignerKey(name: string): SignerKey {
  const problem = nameProblem(name);
  if (problem !== null) throw new KeyFormatError(`key name ${quote(name)} ${problem}`);
  const d = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }).d;
  if (d === undefined) throw new KeyFormatError("signing key: the new key could not be exported");
  return signerFromSeed(name, new Uint8Array(Buffer.from(d, "base64url")));
}

/**
 * The private key text `PRIVATE+KEY+<name>+<hexkeyid>+<base64(0x01 ‖ seed)>`
 * (as golang.org/x/mod/sumdb/note writes it). It is the secret: store it
 * like one.
 */
export function signerKeyToString(k: SignerKey): string {
  const d = k.privateKey.export({ format: "jwk" }).d;
  if (d === undefined || k.privateKey.asymmetricKeyType !== "ed25519") throw new KeyFormatError("signing key: not an Ed25519 private key");
  const seed = Buffer.from(d, "base64url");
  return `PRIVATE+KEY+${k.name}+${hex(k.keyId)}+${base64(Buffer.concat([Uint8Array.of(ALG_ED25519), seed]))}`;
}

/** Splits `s` at its first `count` plus signs; the last part keeps the rest (base64 may contain '+'). */
function splitPlus(s: string, count: number): string[] | null {
  const parts: string[] = [];
  let rest = s;
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf("+");
    if (at < 0) return null;
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  parts.push(rest);
  return parts;
}

/**
 * Parses a private key text `PRIVATE+KEY+<name>+<hexkeyid>+<base64(0x01 ‖ 32-byte seed)>`
 * (surrounding whitespace ignored) and checks that the key id matches the key.
 * @throws {KeyFormatError} saying what is wrong; messages never contain key material.
 */
export function signerKeyFromString(s: string): SignerKey {
  if (typeof s !== "string") throw new KeyFormatError("signing key: expected a string");
  const parts = splitPlus(s.trim(), 4);
  if (parts === null || parts[0] !== "PRIVATE" || parts[1] !== "KEY") {
    throw new KeyFormatError("signing key: expected the form PRIVATE+KEY+<name>+<hex key id>+<base64 key>");
  }
  const [, , name, id, data] = parts as [string, string, string, string, string];
  const problem = nameProblem(name);
  if (problem !== null) throw new KeyFormatError(`signing key: the key name ${problem}`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new KeyFormatError(`signing key ${quote(name)}: the key id is not 8 lowercase hex digits`);
  const raw = decodeBase64(data);
  if (raw === null) throw new KeyFormatError(`signing key ${quote(name)}: the key data is not base64`);
  if (raw.length === 0) throw new KeyFormatError(`signing key ${quote(name)}: the key data is empty`);
  if (raw[0] !== ALG_ED25519) throw new KeyFormatError(`signing key ${quote(name)}: unknown algorithm byte 0x${hex(raw.subarray(0, 1))} (only 0x01, Ed25519)`);
  if (raw.length !== 1 + ED25519_KEY_SIZE) throw new KeyFormatError(`signing key ${quote(name)}: an Ed25519 seed is ${ED25519_KEY_SIZE} bytes, found ${raw.length - 1}`);
  const key = signerFromSeed(name, new Uint8Array(raw.subarray(1)));
  if (hex(key.keyId) !== id) throw new KeyFormatError(`signing key ${quote(name)}: key id ${id} does not match the key`);
  return key;
}

const publicKeyObjects = new WeakMap<Uint8Array, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  let key = publicKeyObjects.get(publicKey);
  if (key === undefined) {
    key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey).toString("base64url") }, format: "jwk" });
    publicKeyObjects.set(publicKey, key);
  }
  return key;
}

/**
 * Parses a verifier key string `<name>+<hexkeyid>+<base64(0x01 ‖ 32-byte public key)>`
 * (surrounding whitespace ignored) and checks that the key id matches it.
 * @throws {KeyFormatError} saying precisely what is wrong: the form, the
 *   name, the key id hex, the base64, the algorithm byte, the key length, or
 *   a key id that does not match the key.
 */
export function parseVerifierKey(s: string): Verifier {
  if (typeof s !== "string") throw new KeyFormatError("verifier key: expected a string");
  const text = s.trim();
  const parts = splitPlus(text, 2);
  if (parts === null) throw new KeyFormatError(`verifier key ${quote(text)}: expected the form <name>+<hex key id>+<base64 key>`);
  const [name, id, data] = parts as [string, string, string];
  const problem = nameProblem(name);
  if (problem !== null) throw new KeyFormatError(`verifier key ${quote(text)}: the key name ${problem}`);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new KeyFormatError(`verifier key ${quote(name)}: key id ${quote(id, 20)} is not 8 lowercase hex digits`);
  const raw = decodeBase64(data);
  if (raw === null) throw new KeyFormatError(`verifier key ${quote(name)}: the key data is not base64`);
  if (raw.length === 0) throw new KeyFormatError(`verifier key ${quote(name)}: the key data is empty`);
  if (raw[0] !== ALG_ED25519) throw new KeyFormatError(`verifier key ${quote(name)}: unknown algorithm byte 0x${hex(raw.subarray(0, 1))} (only 0x01, Ed25519)`);
  if (raw.length !== 1 + ED25519_KEY_SIZE) {
    throw new KeyFormatError(`verifier key ${quote(name)}: an Ed25519 public key is ${ED25519_KEY_SIZE} bytes, found ${raw.length - 1}`);
  }
  const verifier = verifierFromPublicKey(name, new Uint8Array(raw.subarray(1)));
  if (hex(verifier.keyId) !== id) {
    throw new KeyFormatError(`verifier key ${quote(name)}: key id ${id} does not match the key (its id is ${hex(verifier.keyId)})`);
  }
  try {
    publicKeyObject(verifier.publicKey);
  } catch {
    throw new KeyFormatError(`verifier key ${quote(name)}: not a usable Ed25519 public key`);
  }
  return verifier;
}

/**
 * The checkpoint body `<origin>\n<size>\n<base64 root>\n`.
 * @throws {CheckpointFormatError} when the origin is empty or has a newline or
 *   control character, the size is not a non-negative integer, or the root is not 32 bytes.
 */
export function formatCheckpoint(c: Checkpoint): string {
  if (typeof c.origin !== "string" || c.origin.length === 0) throw new CheckpointFormatError("origin is empty");
  if (CONTROL_OR_NEWLINE.test(c.origin) || !c.origin.isWellFormed()) throw new CheckpointFormatError(`origin ${quote(c.origin)} contains a newline or control character`);
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new CheckpointFormatError(`tree size ${String(c.size)} is not a non-negative integer`);
  if (!(c.root instanceof Uint8Array) || c.root.length !== ROOT_SIZE) throw new CheckpointFormatError(`root hash must be ${ROOT_SIZE} bytes`);
  return `${c.origin}\n${c.size}\n${base64(c.root)}\n`;
}

/**
 * Parses a checkpoint body (the note text, without signatures).
 * @throws {CheckpointFormatError} with a precise message: no final newline,
 *   fewer than three lines, an empty origin, a tree size that is not a
 *   decimal without leading zeros (or is beyond 2^53 - 1), a root that is not
 *   base64 of 32 bytes, an empty extension line, a control character.
 */
export function parseCheckpoint(body: string): ParsedCheckpoint {
  if (typeof body !== "string") throw new CheckpointFormatError("checkpoint body: expected a string");
  if (!body.endsWith("\n")) throw new CheckpointFormatError("checkpoint body does not end with a newline");
  if (CONTROL.test(body)) throw new CheckpointFormatError("checkpoint body contains a control character");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) {
    throw new CheckpointFormatError(`checkpoint body has ${lines.length} line${lines.length === 1 ? "" : "s"}; it needs an origin, a tree size and a root hash line`);
  }
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new CheckpointFormatError("checkpoint origin (line 1) is empty");
  if (!/^(?:0|[1-9][0-9]*)$/.test(sizeText)) {
    const why = /^0[0-9]+$/.test(sizeText) ? "has a leading zero" : "is not a decimal number";
    throw new CheckpointFormatError(`checkpoint tree size (line 2) ${quote(sizeText, 30)} ${why}`);
  }
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new CheckpointFormatError(`checkpoint tree size (line 2) ${quote(sizeText, 30)} is beyond 2^53 - 1`);
  const root = decodeBase64(rootText);
  if (root === null) throw new CheckpointFormatError(`checkpoint root hash (line 3) ${quote(rootText, 60)} is not base64`);
  if (root.length !== ROOT_SIZE) throw new CheckpointFormatError(`checkpoint root hash (line 3) is ${root.length} bytes; expected ${ROOT_SIZE}`);
  const empty = extensions.indexOf("");
  if (empty >= 0) throw new CheckpointFormatError(`checkpoint extension line ${empty + 4} is empty`);
  return { origin, size, root: new Uint8Array(root), extensions };
}

/**
 * Signs `body` as a C2SP signed note: the body (which must end in "\n"),
 * a blank line, and one line `— <name> <base64(key id ‖ Ed25519 signature)>`
 * per signer (a signer given twice signs once). The signature is over the
 * UTF-8 bytes of the body.
 * @throws {NoteFormatError} when the body does not end in "\n" or contains a
 *   control character, or no signer is given; {KeyFormatError} for a signer
 *   whose name or key is unusable.
 */
export function signNote(body: string, signers: readonly SignerKey[]): string {
  if (typeof body !== "string" || !body.endsWith("\n")) throw new NoteFormatError("note text must end with a newline");
  if (CONTROL.test(body)) throw new NoteFormatError("note text contains a control character other than newline");
  if (!body.isWellFormed()) throw new NoteFormatError("note text is not valid Unicode (lone surrogate)");
  if (signers.length === 0) throw new NoteFormatError("a signed note needs at least one signer");
  const text = Buffer.from(body, "utf8");
  const seen = new Set<string>();
  let lines = "";
  for (const signer of signers) {
    const problem = nameProblem(signer.name);
    if (problem !== null) throw new KeyFormatError(`signer name ${quote(signer.name)} ${problem}`);
    if (!(signer.keyId instanceof Uint8Array) || signer.keyId.length !== KEY_ID_SIZE) throw new KeyFormatError(`signer ${quote(signer.name)}: key id must be ${KEY_ID_SIZE} bytes`);
    if (signer.privateKey?.type !== "private" || signer.privateKey.asymmetricKeyType !== "ed25519") {
      throw new KeyFormatError(`signer ${quote(signer.name)}: not an Ed25519 private key`);
    }
    const id = `${signer.name}+${hex(signer.keyId)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const signature = sign(null, text, signer.privateKey);
    lines += `${SIGNATURE_PREFIX}${signer.name} ${base64(Buffer.concat([signer.keyId, signature]))}\n`;
  }
  return `${body}\n${lines}`;
}

/**
 * Opens a C2SP signed note: checks its form, then its signatures against
 * the `trusted` keys. A signature counts for a trusted key when both its
 * name and key id match; signatures by other keys are ignored and listed in
 * `unknownSigners`.
 * @throws {NoteFormatError} when the note is malformed (not valid Unicode, a
 *   control character, no blank line before the signatures, a bad signature
 *   line, more than `MAX_NOTE_SIGNATURES` signatures, longer than `MAX_NOTE_LENGTH`).
 * @throws {NoteVerificationError} when a signature by a trusted key does not verify.
 * @throws {NoTrustedSignatureError} when no trusted key signed the note.
 * @throws {KeyFormatError} when two different trusted keys share a name and key id.
 */
export function openNote(note: string, trusted: readonly Verifier[]): OpenedNote {
  if (typeof note !== "string") throw new NoteFormatError("signed note: expected a string");
  if (note.length > MAX_NOTE_LENGTH) throw new NoteFormatError(`signed note is longer than ${MAX_NOTE_LENGTH} characters`);
  if (!note.isWellFormed()) throw new NoteFormatError("signed note is not valid Unicode (lone surrogate)");
  if (CONTROL.test(note)) throw new NoteFormatError("signed note contains a control character other than newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteFormatError("signed note has no blank line between its text and its signatures");
  const body = note.slice(0, split + 1);
  const signatureBlock = note.slice(split + 2);
  if (signatureBlock.length === 0) throw new NoteFormatError("signed note has no signature lines after the blank line");
  if (!signatureBlock.endsWith("\n")) throw new NoteFormatError("signed note does not end with a newline");
  const lines = signatureBlock.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteFormatError(`signed note has ${lines.length} signatures; at most ${MAX_NOTE_SIGNATURES} are accepted`);

  const keys = new Map<string, Verifier>();
  for (const v of trusted) {
    const id = `${v.name}+${hex(v.keyId)}`;
    const known = keys.get(id);
    if (known !== undefined && !Buffer.from(known.publicKey).equals(Buffer.from(v.publicKey))) {
      throw new KeyFormatError(`two different trusted keys are both named ${id}`);
    }
    keys.set(id, v);
  }

  const text = Buffer.from(body, "utf8");
  const verifiedBy: string[] = [];
  const unknownSigners: string[] = [];
  lines.forEach((line, i) => {
    const where = `signature line ${i + 1}`;
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteFormatError(`${where} does not start with "— " (em dash, space): ${quote(line, 40)}`);
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw new NoteFormatError(`${where} has no space between key name and signature`);
    const name = rest.slice(0, space);
    const problem = nameProblem(name);
    if (problem !== null) throw new NoteFormatError(`${where}: the key name ${problem}`);
    const raw = decodeBase64(rest.slice(space + 1));
    if (raw === null) throw new NoteFormatError(`${where} (${quote(name, 40)}): the signature is not base64`);
    if (raw.length < KEY_ID_SIZE + 1) throw new NoteFormatError(`${where} (${quote(name, 40)}): the signature is too short (${raw.length} bytes)`);
    const id = `${name}+${hex(raw.subarray(0, KEY_ID_SIZE))}`;
    const key = keys.get(id);
    if (key === undefined) {
      if (!unknownSigners.includes(id)) unknownSigners.push(id);
      return;
    }
    const signature = raw.subarray(KEY_ID_SIZE);
    let ok = false;
    try {
      ok = signature.length === ED25519_SIGNATURE_SIZE && verify(null, text, publicKeyObject(key.publicKey), signature);
    } catch {
      ok = false;
    }
    if (!ok) throw new NoteVerificationError(id);
    if (!verifiedBy.includes(key.verifierKey)) verifiedBy.push(key.verifierKey);
  });
  if (verifiedBy.length === 0) throw new NoTrustedSignatureError(unknownSigners);
  return { body, verifiedBy, unknownSigners };
}

/** Formats and signs a checkpoint: `signNote(formatCheckpoint(c), signers)`. */
export function signCheckpoint(c: Checkpoint, signers: readonly SignerKey[]): string {
  return signNote(formatCheckpoint(c), signers);
}

/**
 * Opens a signed checkpoint (`openNote`) and parses its body (`parseCheckpoint`).
 * @throws what `openNote` and `parseCheckpoint` throw.
 */
export function openCheckpoint(note: string, trusted: readonly Verifier[]): OpenedNote & { checkpoint: ParsedCheckpoint } {
  const opened = openNote(note, trusted);
  return { ...opened, checkpoint: parseCheckpoint(opened.body) };
}
