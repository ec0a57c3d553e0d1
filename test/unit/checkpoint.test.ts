import { describe, expect, it } from "vitest";
import {
  CheckpointErrorCode,
  CheckpointFormatError,
  formatCheckpoint,
  generateSignerKey,
  KeyFormatError,
  MAX_NOTE_SIGNATURES,
  NoteFormatError,
  NoteVerificationError,
  NoTrustedSignatureError,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  signerKeyFromSeed,
  signerKeyFromString,
  signerKeyToString,
  signNote,
  verifierFromPublicKey,
  type Verifier,
} from "../../src/ledger/checkpoint.ts";
import { merkleRoot } from "../../src/ledger/merkle.ts";

// Known answers from golang.org/x/mod/sumdb/note's note_test.go (TestSign, TestOpen, TestNewVerifier).
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
// Known answer from C2SP signed-note.md ("Verifier keys", Example).
const C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const C2SP_NOTE = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
// Known answer from C2SP tlog-checkpoint.md (the body of its example).
const C2SP_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

const root = merkleRoot([new Uint8Array(32).fill(7), new Uint8Array(32).fill(8)]);
const rootB64 = Buffer.from(root).toString("base64");
const checkpoint = { origin: "governor.example/acct-1", size: 2, root };

/** Rewrites the signature bytes of line `line` of a note's signature block. */
function alterSignature(note: string, line: number, change: (raw: Buffer) => void): string {
  const split = note.lastIndexOf("\n\n");
  const lines = note.slice(split + 2, -1).split("\n");
  const [dash, name, b64] = lines[line]!.split(" ") as [string, string, string];
  const raw = Buffer.from(b64, "base64");
  change(raw);
  lines[line] = `${dash} ${name} ${raw.toString("base64")}`;
  return `${note.slice(0, split + 2)}${lines.join("\n")}\n`;
}

describe("known answers: golang.org/x/mod/sumdb/note and C2SP", () => {
  it("derives Go's key id and key strings from Go's private key", () => {
    const signer = signerKeyFromString(PETER_SKEY);
    expect(signer.name).toBe("PeterNeumann");
    expect(Buffer.from(signer.keyId).toString("hex")).toBe("c74f20a3");
    expect(signer.verifierKey).toBe(PETER_VKEY);
    expect(signerKeyToString(signer)).toBe(PETER_SKEY);
    const verifier = parseVerifierKey(PETER_VKEY);
    expect(verifier.publicKey).toEqual(signer.publicKey);
    expect(verifierFromPublicKey("PeterNeumann", verifier.publicKey).verifierKey).toBe(PETER_VKEY);
  });

  it("signs Go's text to exactly Go's note (Ed25519 is deterministic)", () => {
    expect(signNote(GO_TEXT, [signerKeyFromString(PETER_SKEY)])).toBe(`${GO_TEXT}\n${PETER_SIG}`);
  });

  it("opens Go's two-signature note: one trusted, one unknown; then both trusted", () => {
    const note = `${GO_TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const peterOnly = openNote(note, [parseVerifierKey(PETER_VKEY)]);
    expect(peterOnly).toEqual({ body: GO_TEXT, verifiedBy: [PETER_VKEY], unknownSigners: ["EnochRoot+af0cfe78"] });
    const both = openNote(note, [parseVerifierKey(PETER_VKEY), parseVerifierKey(ENOCH_VKEY)]);
    expect(both.verifiedBy).toEqual([PETER_VKEY, ENOCH_VKEY]);
    expect(both.unknownSigners).toEqual([]);
    expect(() => openNote(note, [])).toThrow(NoTrustedSignatureError);
  });

  it("rejects Go's corrupted signature by a trusted key", () => {
    const note = `${GO_TEXT}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(() => openNote(note, [parseVerifierKey(PETER_VKEY)])).toThrow(NoteVerificationError);
  });

  it("rejects Go's malformed messages", () => {
    const bad = [
      GO_TEXT,
      `${GO_TEXT}\n`,
      `${GO_TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\u0001${GO_TEXT}\n${PETER_SIG}`,
      `\ud800${GO_TEXT}\n${PETER_SIG}`,
      `${GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${GO_TEXT}\n${PETER_SIG}Unexpected line.\n`,
    ];
    for (const note of bad) expect(() => openNote(note, [parseVerifierKey(PETER_VKEY)])).toThrow(NoteFormatError);
  });

  it("verifies the C2SP signed-note example", () => {
    expect(openNote(C2SP_NOTE, [parseVerifierKey(C2SP_VKEY)])).toEqual({ body: "This is an example message.\n", verifiedBy: [C2SP_VKEY], unknownSigners: [] });
  });

  it("parses the C2SP tlog-checkpoint example body", () => {
    const c = parseCheckpoint(C2SP_CHECKPOINT);
    expect(c.origin).toBe("example.com/behind-the-sofa");
    expect(c.size).toBe(20852163);
    expect(Buffer.from(c.root).toString("base64")).toBe("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
    expect(c.extensions).toEqual([]);
    expect(formatCheckpoint(c)).toBe(C2SP_CHECKPOINT);
  });
});

describe("verifier keys", () => {
  it("rejects every truncation and every single-character change of a valid key (Go's TestNewVerifier)", () => {
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        expect(() => parseVerifierKey(PETER_VKEY.slice(i, j))).toThrow(KeyFormatError);
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const changed = PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      expect(() => parseVerifierKey(changed)).toThrow(KeyFormatError);
    }
  });

  it.each<[string, string, RegExp]>([
    ["no plus signs", "PeterNeumann", /expected the form <name>\+<hex key id>\+<base64 key>/],
    ["an empty name", "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /the key name is empty/],
    ["a name with a space", "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /the key name contains a space/],
    ["a name with a no-break space", "Peter\u00a0Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /the key name contains a space/],
    ["an uppercase key id", "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /key id "C74F20A3" is not 8 lowercase hex digits/],
    ["a 7-digit key id", "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /key id "c74f20a" is not 8 lowercase hex digits/],
    ["a key id that does not match", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /key id c74f20a4 does not match the key \(its id is c74f20a3\)/],
    ["bad base64", "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!", /the key data is not base64/],
    ["unpadded base64", "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA", /the key data is not base64/],
    ["empty key data", "PeterNeumann+c74f20a3+", /the key data is empty/],
    ["an unknown algorithm (Go's adjusted-hash case)", "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /unknown algorithm byte 0x65 \(only 0x01, Ed25519\)/],
    ["a wrong key length (Go's adjusted-hash case)", "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", /an Ed25519 public key is 32 bytes, found 36/],
  ])("rejects %s with a precise KeyFormatError", (_what, key, message) => {
    expect(() => parseVerifierKey(key)).toThrow(KeyFormatError);
    expect(() => parseVerifierKey(key)).toThrow(message);
  });

  it("ignores surrounding whitespace (keys files end in newlines)", () => {
    expect(parseVerifierKey(`  ${PETER_VKEY}\n`).verifierKey).toBe(PETER_VKEY);
  });
});

describe("signing keys", () => {
  it("round-trip through their private text and sign what their verifier key verifies", () => {
    const key = generateSignerKey("governor.example/ledger");
    const text = signerKeyToString(key);
    expect(text).toMatch(/^PRIVATE\+KEY\+governor\.example\/ledger\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const again = signerKeyFromString(text);
    expect(again.verifierKey).toBe(key.verifierKey);
    const note = signNote("hello\n", [again]);
    expect(openNote(note, [parseVerifierKey(key.verifierKey)]).verifiedBy).toEqual([key.verifierKey]);
  });

  it("are deterministic from a seed", () => {
    const a = signerKeyFromSeed("fixtures", new Uint8Array(32).fill(1));
    const b = signerKeyFromSeed("fixtures", new Uint8Array(32).fill(1));
    expect(a.verifierKey).toBe(b.verifierKey);
    expect(signNote("x\n", [a])).toBe(signNote("x\n", [b]));
    expect(() => signerKeyFromSeed("fixtures", new Uint8Array(31))).toThrow(KeyFormatError);
  });

  it("rejects every truncation and every single-character change of a valid private key (Go's TestNewSigner)", () => {
    for (let i = 0; i <= PETER_SKEY.length; i++) {
      for (let j = i + 1; j <= PETER_SKEY.length; j++) {
        if (i === 0 && j === PETER_SKEY.length) continue;
        expect(() => signerKeyFromString(PETER_SKEY.slice(i, j))).toThrow(KeyFormatError);
      }
    }
    for (let i = 0; i < PETER_SKEY.length; i++) {
      const changed = PETER_SKEY.slice(0, i) + String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1) + PETER_SKEY.slice(i + 1);
      expect(() => signerKeyFromString(changed)).toThrow(KeyFormatError);
    }
  });

  it("never put key material in their error messages", () => {
    const secret = PETER_SKEY.slice(PETER_SKEY.lastIndexOf("+c74f20a3+") + 10);
    const cases = [
      PETER_SKEY.replace("c74f20a3", "c74f20a4"),
      PETER_SKEY.replace("+AYEK", "+AoEK"),
      PETER_SKEY.slice(0, -1),
      PETER_SKEY.replace("PRIVATE+KEY+", ""),
      `PRIVATE+KEY+Peter Neumann+c74f20a3+${secret}`,
    ];
    for (const bad of cases) {
      let message = "";
      try {
        signerKeyFromString(bad);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe("");
      expect(message).not.toContain(secret.slice(0, 12));
      expect(message).not.toContain(secret.slice(-12));
    }
  });

  it("refuse bad names", () => {
    expect(() => generateSignerKey("")).toThrow(/key name "" is empty/);
    expect(() => generateSignerKey("a+b")).toThrow(/contains '\+'/);
    expect(() => generateSignerKey("a b")).toThrow(/contains a space/);
    expect(() => generateSignerKey("a\u0001b")).toThrow(/contains a control character/);
  });
});

describe("checkpoint bodies", () => {
  it("format exactly as tlog-checkpoint says and parse back", () => {
    const body = formatCheckpoint(checkpoint);
    expect(body).toBe(`governor.example/acct-1\n2\n${rootB64}\n`);
    expect(parseCheckpoint(body)).toEqual({ ...checkpoint, extensions: [] });
    expect(formatCheckpoint({ ...checkpoint, size: 0 })).toBe(`governor.example/acct-1\n0\n${rootB64}\n`);
  });

  it("keep extension lines", () => {
    expect(parseCheckpoint(`o\n5\n${rootB64}\next one\next two\n`).extensions).toEqual(["ext one", "ext two"]);
  });

  it.each<[string, string, RegExp]>([
    ["no final newline", `o\n1\n${rootB64}`, /does not end with a newline/],
    ["two lines", "o\n1\n", /has 2 lines; it needs an origin, a tree size and a root hash line/],
    ["an empty origin", `\n1\n${rootB64}\n`, /origin \(line 1\) is empty/],
    ["a size with a leading zero", `o\n01\n${rootB64}\n`, /tree size \(line 2\) "01" has a leading zero/],
    ["a negative size", `o\n-1\n${rootB64}\n`, /tree size \(line 2\) "-1" is not a decimal number/],
    ["a size with a plus sign", `o\n+1\n${rootB64}\n`, /"\+1" is not a decimal number/],
    ["a size in exponent form", `o\n1e3\n${rootB64}\n`, /"1e3" is not a decimal number/],
    ["a size with a space", `o\n 1\n${rootB64}\n`, /" 1" is not a decimal number/],
    ["an empty size", `o\n\n${rootB64}\n`, /"" is not a decimal number/],
    ["a size beyond 2^53 - 1", `o\n9007199254740992\n${rootB64}\n`, /is beyond 2\^53 - 1/],
    ["a root of 31 bytes", `o\n1\n${Buffer.alloc(31).toString("base64")}\n`, /root hash \(line 3\) is 31 bytes; expected 32/],
    ["a root of 33 bytes", `o\n1\n${Buffer.alloc(33).toString("base64")}\n`, /root hash \(line 3\) is 33 bytes; expected 32/],
    ["a root in hex", `o\n1\n${Buffer.from(root).toString("hex")}\n`, /root hash \(line 3\) .* is not base64|is 48 bytes/],
    ["a root in base64url", `o\n1\n${Buffer.alloc(32, 0xfb).toString("base64url")}\n`, /root hash \(line 3\) .* is not base64/],
    ["an empty extension line", `o\n1\n${rootB64}\n\n`, /extension line 4 is empty/],
    ["a carriage return", `o\r\n1\n${rootB64}\n`, /contains a control character/],
  ])("rejects a body with %s with a precise CheckpointFormatError", (_what, body, message) => {
    expect(() => parseCheckpoint(body)).toThrow(CheckpointFormatError);
    expect(() => parseCheckpoint(body)).toThrow(message);
  });

  it("refuse to format what they cannot carry", () => {
    expect(() => formatCheckpoint({ ...checkpoint, origin: "" })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ ...checkpoint, origin: "a\nb" })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ ...checkpoint, size: -1 })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ ...checkpoint, size: 1.5 })).toThrow(CheckpointFormatError);
    expect(() => formatCheckpoint({ ...checkpoint, root: new Uint8Array(31) })).toThrow(CheckpointFormatError);
  });
});

describe("signed checkpoints", () => {
  const key = generateSignerKey("governor.example/acct-1");
  const trusted = [parseVerifierKey(key.verifierKey)];

  it("round-trip through signCheckpoint and openCheckpoint", () => {
    const note = signCheckpoint(checkpoint, [key]);
    expect(note.startsWith(`${formatCheckpoint(checkpoint)}\n— governor.example/acct-1 `)).toBe(true);
    const opened = openCheckpoint(note, trusted);
    expect(opened.checkpoint).toEqual({ ...checkpoint, extensions: [] });
    expect(opened.verifiedBy).toEqual([key.verifierKey]);
    expect(opened.unknownSigners).toEqual([]);
  });

  it("rotation: two signers; trusting only the new key passes, only the old key passes, an unknown key fails", () => {
    const oldKey = generateSignerKey("governor.example/2025");
    const newKey = generateSignerKey("governor.example/2026");
    const note = signCheckpoint(checkpoint, [oldKey, newKey]);
    const oldId = `governor.example/2025+${Buffer.from(oldKey.keyId).toString("hex")}`;
    const newId = `governor.example/2026+${Buffer.from(newKey.keyId).toString("hex")}`;
    expect(openCheckpoint(note, [parseVerifierKey(newKey.verifierKey)])).toMatchObject({ verifiedBy: [newKey.verifierKey], unknownSigners: [oldId] });
    expect(openCheckpoint(note, [parseVerifierKey(oldKey.verifierKey)])).toMatchObject({ verifiedBy: [oldKey.verifierKey], unknownSigners: [newId] });
    const stranger = generateSignerKey("governor.example/2026");
    let error: unknown;
    try {
      openNote(note, [parseVerifierKey(stranger.verifierKey)]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NoTrustedSignatureError);
    expect((error as NoTrustedSignatureError).code).toBe("NO_TRUSTED_SIGNATURE");
    expect((error as NoTrustedSignatureError).unknownSigners).toEqual([oldId, newId]);
    expect((error as Error).message).toContain(oldId);
  });

  it("a tampered body fails every trusted signature", () => {
    const note = signCheckpoint(checkpoint, [key]);
    expect(() => openNote(note.replace("\n2\n", "\n3\n"), trusted)).toThrow(NoteVerificationError);
    expect(() => openNote(note.replace("acct-1\n", "acct-2\n"), trusted)).toThrow(NoteVerificationError);
    expect(() => openNote(`x${note}`, trusted)).toThrow(NoteVerificationError);
  });

  it("a tampered signature fails, whichever byte changes", () => {
    const note = signCheckpoint(checkpoint, [key]);
    for (const at of [4, 20, 67]) {
      const bad = alterSignature(note, 0, (raw) => {
        raw[at]! ^= 0x01;
      });
      expect(() => openNote(bad, trusted)).toThrow(NoteVerificationError);
    }
    const truncated = alterSignature(note, 0, () => undefined).replace(/([A-Za-z0-9+/]{4})=?=?\n$/, "\n");
    expect(() => openNote(truncated, trusted)).toThrow(/signature by trusted key .* does not verify|not base64/);
  });

  it("one bad signature by a trusted key rejects the note even when another trusted key verifies", () => {
    const other = generateSignerKey("witness.example");
    const note = signCheckpoint(checkpoint, [key, other]);
    const bad = alterSignature(note, 1, (raw) => {
      raw[10]! ^= 0x80;
    });
    expect(() => openNote(bad, [...trusted, parseVerifierKey(other.verifierKey)])).toThrow(NoteVerificationError);
    expect(openNote(bad, trusted).verifiedBy).toEqual([key.verifierKey]);
  });

  it("a signature line with a wrong key id is another key's: ignored, never verified", () => {
    const note = signCheckpoint(checkpoint, [key]);
    const wrongId = alterSignature(note, 0, (raw) => {
      raw[0]! ^= 0xff;
    });
    expect(() => openNote(wrongId, trusted)).toThrow(NoTrustedSignatureError);
    const sameNameOtherKey = generateSignerKey("governor.example/acct-1");
    expect(() => openNote(note, [parseVerifierKey(sameNameOtherKey.verifierKey)])).toThrow(NoTrustedSignatureError);
    const renamed = note.replace("— governor.example/acct-1 ", "— governor.example/acct-2 ");
    expect(() => openNote(renamed, trusted)).toThrow(NoTrustedSignatureError);
  });

  it("refuses two different trusted keys with one name and key id", () => {
    const real = trusted[0]!;
    const impostor: Verifier = { ...real, publicKey: generateSignerKey(real.name).publicKey };
    expect(() => openNote(signCheckpoint(checkpoint, [key]), [real, impostor])).toThrow(KeyFormatError);
    expect(openNote(signCheckpoint(checkpoint, [key]), [real, { ...real }]).verifiedBy).toEqual([key.verifierKey]);
  });

  it("openCheckpoint rejects a verified note whose body is not a checkpoint", () => {
    expect(() => openCheckpoint(signNote("just text\n", [key]), trusted)).toThrow(CheckpointFormatError);
  });

  it("accepts 16 signatures (signed-note's minimum) and refuses more than the limit", () => {
    const note = signCheckpoint(checkpoint, [key]);
    const line = note.slice(note.lastIndexOf("\n\n") + 2);
    const signers = Array.from({ length: 15 }, (_, i) => generateSignerKey(`witness-${i}`));
    const sixteen = signCheckpoint(checkpoint, [key, ...signers]);
    expect(openNote(sixteen, trusted).unknownSigners).toHaveLength(15);
    const tooMany = `${formatCheckpoint(checkpoint)}\n${line.repeat(MAX_NOTE_SIGNATURES + 1)}`;
    expect(() => openNote(tooMany, trusted)).toThrow(/101 signatures; at most 100/);
  });
});

describe("malformed notes", () => {
  const key = generateSignerKey("k");
  const good = signNote("body\n", [key]);
  const sig = good.slice(good.lastIndexOf("\n\n") + 2);
  const trusted = [parseVerifierKey(key.verifierKey)];

  it.each<[string, string, RegExp]>([
    ["no blank line", `body\n${sig}`, /no blank line between its text and its signatures/],
    ["no signature lines", "body\n\n", /no signature lines/],
    ["no final newline", `body\n\n${sig.slice(0, -1)}`, /does not end with a newline/],
    ["a hyphen instead of an em dash", `body\n\n${sig.replace("—", "-")}`, /signature line 1 does not start with "— "/],
    ["no space after the name", `body\n\n— k\n`, /signature line 1 has no space/],
    ["a signature that is not base64", `body\n\n— k !!!!\n`, /signature line 1 \("k"\): the signature is not base64/],
    ["a signature of 4 bytes", `body\n\n— k AAAAAA==\n`, /the signature is too short \(4 bytes\)/],
    ["an empty key name", `body\n\n—  AAAAAAAA\n`, /signature line 1: the key name is empty/],
    ["a control character in the text", `bo\u0007dy\n\n${sig}`, /control character other than newline/],
    ["a carriage return", `body\r\n\n${sig}`, /control character other than newline/],
    ["a lone surrogate", `bo\udfffdy\n\n${sig}`, /not valid Unicode/],
    ["a line after the signatures", `body\n\n${sig}trailing\n`, /signature line 2 does not start with "— "/],
  ])("rejects %s with a precise NoteFormatError", (_what, note, message) => {
    expect(() => openNote(note, trusted)).toThrow(NoteFormatError);
    expect(() => openNote(note, trusted)).toThrow(message);
  });

  it("keeps blank lines inside the text: the last blank line separates the signatures", () => {
    const note = signNote("para one\n\npara two\n", [key]);
    expect(openNote(note, trusted).body).toBe("para one\n\npara two\n");
  });

  it("signNote refuses what cannot be a note", () => {
    expect(() => signNote("no newline", [key])).toThrow(NoteFormatError);
    expect(() => signNote("tab\there\n", [key])).toThrow(/control character/);
    expect(() => signNote("text\n", [])).toThrow(/at least one signer/);
    expect(signNote("text\n", [key, key]).match(/\n— k /g)).toHaveLength(1);
  });

  it("every error carries its stable code", () => {
    expect(new KeyFormatError("x").code).toBe(CheckpointErrorCode.keyFormat);
    expect(new CheckpointFormatError("x").code).toBe("CHECKPOINT_FORMAT");
    expect(new NoteFormatError("x").code).toBe("NOTE_FORMAT");
    expect(new NoteVerificationError("k+00000000").code).toBe("NOTE_BAD_SIGNATURE");
    expect(new NoTrustedSignatureError([]).code).toBe("NO_TRUSTED_SIGNATURE");
    expect(CheckpointErrorCode).toEqual({
      keyFormat: "KEY_FORMAT",
      checkpointFormat: "CHECKPOINT_FORMAT",
      noteFormat: "NOTE_FORMAT",
      badSignature: "NOTE_BAD_SIGNATURE",
      noTrustedSignature: "NO_TRUSTED_SIGNATURE",
    });
  });
});
