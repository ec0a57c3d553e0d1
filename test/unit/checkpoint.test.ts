import { describe, expect, it } from "vitest";
import {
  CheckpointFormatError,
  formatCheckpoint,
  generateSignerKey,
  KeyFormatError,
  NoteFormatError,
  NoteVerificationError,
  NoTrustedSignatureError,
  openCheckpoint,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  signCheckpoint,
  signerKeyFromString,
  signerKeyToString,
  signNote,
} from "../../src/ledger/checkpoint.ts";
import { merkleRoot } from "../../src/ledger/merkle.ts";

// The example of golang.org/x/mod/sumdb/note's documentation: a known answer for key ids, key strings and signatures.
const GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

const root = merkleRoot([new Uint8Array(32).fill(7)]);

describe("signed notes: known answers from Go's sumdb/note", () => {
  it("derives the same key id and key strings", () => {
    const signer = signerKeyFromString(GO_SIGNER);
    expect(signer.verifierKey).toBe(GO_VERIFIER);
    expect(parseVerifierKey(GO_VERIFIER).name).toBe("PeterNeumann");
    expect(signerKeyToString(signer)).toBe(GO_SIGNER);
  });

  it("signs to the same bytes and verifies Go's note", () => {
    expect(signNote(GO_TEXT, [signerKeyFromString(GO_SIGNER)])).toBe(GO_NOTE);
    expect(openNote(GO_NOTE, [parseVerifierKey(GO_VERIFIER)]).verifiedBy).toEqual([GO_VERIFIER]);
  });
});

describe("checkpoints", () => {
  const c = { origin: "governor.test/acct-1", size: 1, root };

  it("formats the tlog-checkpoint body exactly", () => {
    expect(formatCheckpoint(c)).toBe(`governor.test/acct-1\n1\n${Buffer.from(root).toString("base64")}\n`);
    expect(parseCheckpoint(formatCheckpoint(c))).toMatchObject({ origin: c.origin, size: 1, extensions: [] });
  });

  it("round-trips through sign and open", () => {
    const k = generateSignerKey("governor");
    const opened = openCheckpoint(signCheckpoint(c, [k]), [parseVerifierKey(k.verifierKey)]);
    expect(opened.checkpoint.size).toBe(1);
    expect(Buffer.from(opened.checkpoint.root)).toEqual(Buffer.from(root));
  });

  it("supports rotation: two signatures, either key alone is trusted, an unknown one is ignored", () => {
    const oldKey = generateSignerKey("governor-2025");
    const newKey = generateSignerKey("governor-2026");
    const note = signCheckpoint(c, [oldKey, newKey]);
    expect(openNote(note, [parseVerifierKey(newKey.verifierKey)]).unknownSigners).toHaveLength(1);
    expect(openNote(note, [parseVerifierKey(oldKey.verifierKey)]).verifiedBy).toEqual([oldKey.verifierKey]);
    const stranger = generateSignerKey("stranger");
    expect(() => openNote(note, [parseVerifierKey(stranger.verifierKey)])).toThrow(NoTrustedSignatureError);
  });

  it("rejects a tampered body and a tampered signature", () => {
    const k = generateSignerKey("governor");
    const trusted = [parseVerifierKey(k.verifierKey)];
    const note = signCheckpoint(c, [k]);
    expect(() => openNote(note.replace("\n1\n", "\n2\n"), trusted)).toThrow(NoteVerificationError);
    const sigAt = note.lastIndexOf(" ") + 10;
    const flipped = note.slice(0, sigAt) + (note[sigAt] === "A" ? "B" : "A") + note.slice(sigAt + 1);
    expect(() => openNote(flipped, trusted)).toThrow(NoteVerificationError);
  });

  it.each([
    ["no blank line", "a\nb\n", NoteFormatError],
    ["no signature lines", "a\n\n", NoteFormatError],
    ["a line without the em dash", "a\n\n- x AAAAAAAA\n", NoteFormatError],
    ["a signature that is not base64", "a\n\n— x !!!!\n", NoteFormatError],
  ])("rejects a malformed note: %s", (_what, note, type) => {
    expect(() => openNote(note, [])).toThrow(type);
  });

  it.each([
    ["two lines", "o\n1\n"],
    ["a size with a leading zero", `o\n01\n${Buffer.from(root).toString("base64")}\n`],
    ["a negative size", `o\n-1\n${Buffer.from(root).toString("base64")}\n`],
    ["a root of 31 bytes", `o\n1\n${Buffer.alloc(31).toString("base64")}\n`],
    ["no final newline", `o\n1\n${Buffer.from(root).toString("base64")}`],
  ])("rejects a checkpoint body with %s", (_what, body) => {
    expect(() => parseCheckpoint(body)).toThrow(CheckpointFormatError);
  });

  it.each([
    ["two fields", "name+c74f20a3"],
    ["a bad key id", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"],
    ["an unknown algorithm", "PeterNeumann+c74f20a3+AhpjMdkHFDw4TEHoMMW84SqogX7FZJqqvywxOIs1stdE1g=="],
    ["a short key", "PeterNeumann+c74f20a3+ARpc2Q=="],
    ["non-base64 data", "PeterNeumann+c74f20a3+!!!"],
    ["an empty name", "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"],
  ])("rejects a verifier key with %s", (_what, key) => {
    expect(() => parseVerifierKey(key)).toThrow(KeyFormatError);
  });
});
