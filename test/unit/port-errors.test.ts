import { describe, expect, it } from "vitest";
import { BatchInvalidError, ChainConflictError, PortError, SeqConflictError, StoreUnavailableError } from "../../src/ports/index.ts";

describe("port errors", () => {
  it("say whether retrying can help: an unavailable store may answer later; a conflict or a malformed batch never lands", () => {
    const errors = [
      new StoreUnavailableError("down"),
      new StoreUnavailableError("slow", { timeout: true }),
      new SeqConflictError("acme", 3, 4),
      new ChainConflictError("acme", 3, 3, "does not link"),
      new BatchInvalidError("seqs not contiguous"),
    ];
    expect(errors.map((e) => [e.name, e.code, e.retryable, e instanceof PortError])).toEqual([
      ["StoreUnavailableError", "LEDGER_STORE_UNAVAILABLE", true, true],
      ["StoreUnavailableError", "LEDGER_STORE_TIMEOUT", true, true],
      ["SeqConflictError", "LEDGER_SEQ_CONFLICT", false, true],
      ["ChainConflictError", "LEDGER_CHAIN_CONFLICT", false, true],
      ["BatchInvalidError", "LEDGER_BATCH_INVALID", false, true],
    ]);
  });

  it("a chain conflict is a seq conflict, so a writer that knows only those stops writing the ledger", () => {
    const err = new ChainConflictError("acme", 3, 3, "does not link");
    expect(err).toBeInstanceOf(SeqConflictError);
    expect(err).toMatchObject({ ledger: "acme", expectedSeq: 3, actualSize: 3 });
    expect(err.message).toMatch(/does not link to the stored chain \(does not link\)/);
  });

  it("keeps the cause of an unavailable store", () => {
    const cause = new Error("ECONNREFUSED");
    expect(new StoreUnavailableError("down", { cause }).cause).toBe(cause);
  });
});
