import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeSnapshotState, encodeSnapshotState, serializeState } from "../../governors/snapshot.ts";
import { initialGovernorState, type SignalOutcome } from "../../governors/state.ts";

const outcome: fc.Arbitrary<SignalOutcome> = fc.oneof(
  fc.record({
    actionId: fc.uuid(),
    state: fc.constantFrom("pending", "running", "timed_out", "errored", "complete", "rolled_back", "failed") as fc.Arbitrary<SignalOutcome["state"]>,
  }),
  fc.record({ actionId: fc.constant(null), state: fc.constant("refused" as const), code: fc.constantFrom("not_permitted", "quota_exhausted", "invalid_params") }),
);

describe("stored snapshots of a governor's state", () => {
  it("give back the state they were made of, every signal outcome included", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), outcome, { maxKeys: 60 }), fc.nat(), (outcomes, usage) => {
        const state = initialGovernorState("acme");
        for (const [id, o] of Object.entries(outcomes)) state.signals.set(id, { ...o });
        state.usageCount = usage;
        state.usageMonth = "2026-12";
        const stored = JSON.parse(JSON.stringify(encodeSnapshotState(state))) as ReturnType<typeof encodeSnapshotState>;
        expect(serializeState(decodeSnapshotState(stored))).toStrictEqual(serializeState(state));
      }),
      { numRuns: 200 },
    );
  });

  it("keep outcomes in columns, not one object each", () => {
    const state = initialGovernorState("acme");
    state.signals.set("s1", { actionId: "0193aabb-ccdd-7eee-8fff-000000000001", state: "complete" });
    state.signals.set("s2", { actionId: null, state: "refused", code: "quota_exhausted" });
    expect(encodeSnapshotState(state).signals).toStrictEqual({
      ids: ["s1", "s2"],
      actionIds: ["0193aabb-ccdd-7eee-8fff-000000000001", ""],
      states: "cx",
      codes: { 1: "quota_exhausted" },
    });
  });

  it("refuse columns that do not line up, or a state letter they do not know", () => {
    const stored = encodeSnapshotState(initialGovernorState("acme"));
    expect(() => decodeSnapshotState({ ...stored, signals: { ids: ["s1"], actionIds: [], states: "c", codes: {} } })).toThrow(/1 signal ids, 0 action ids/);
    expect(() => decodeSnapshotState({ ...stored, signals: { ids: ["s1"], actionIds: ["a"], states: "?", codes: {} } })).toThrow(/unknown outcome letter/);
  });
});
