/**
 * The PolicySource contract: every adapter (the policies directory, memory)
 * runs this same suite through the port's API only.
 */
import { describe, expect, it } from "vitest";
import type { PolicyFileRead, PolicySource } from "../../src/ports/index.ts";
import { eventually } from "../support/service.ts";

export interface PolicySourceUnderTest {
  readonly source: PolicySource;
  /** Writes a policy file (a plain name, e.g. "shop.json") as an operator would. */
  write(name: string, text: string): Promise<void>;
  cleanup(): Promise<void>;
}

const nameOf = (r: PolicyFileRead) => r.file.split(/[\\/:]/).at(-1);

export function describePolicySourceContract(name: string, fresh: (files: Record<string, string>) => Promise<PolicySourceUnderTest>): void {
  describe(`PolicySource contract: ${name}`, () => {
    const using = async (files: Record<string, string>, run: (t: PolicySourceUnderTest) => Promise<void>) => {
      const t = await fresh(files);
      try {
        await run(t);
      } finally {
        t.source.close();
        await t.cleanup();
      }
    };

    it("reads every policy file, in name order, as its text", () =>
      using({ "b.json": '{"sku_id":"b"}', "a.json": '{"sku_id":"a","x":"Größe"}' }, async (t) => {
        expect(await t.source.exists()).toBe(true);
        const read = await t.source.readAll();
        expect(read.map(nameOf)).toEqual(["a.json", "b.json"]);
        expect(read.map((r) => ("text" in r ? r.text : r.problem))).toEqual(['{"sku_id":"a","x":"Größe"}', '{"sku_id":"b"}']);
        expect(t.source.location).not.toBe("");
      }));

    it("reports a file written while watched, with its new text", () =>
      using({ "a.json": "{}" }, async (t) => {
        const changes: PolicyFileRead[] = [];
        expect("watch" in t.source).toBe(true);
        t.source.watch?.((r) => changes.push(r));
        await t.write("a.json", '{"v":2}');
        await eventually(() => changes.some((c) => "text" in c && c.text === '{"v":2}'), "the change");
        expect(changes.map(nameOf)).toContain("a.json");
      }));

    it("reports nothing once closed", () =>
      using({}, async (t) => {
        const changes: PolicyFileRead[] = [];
        t.source.watch?.((r) => changes.push(r));
        t.source.close();
        await t.write("late.json", "{}");
        expect(changes).toEqual([]);
        expect((await t.source.readAll()).map(nameOf)).toEqual(["late.json"]);
      }));
  });
}
