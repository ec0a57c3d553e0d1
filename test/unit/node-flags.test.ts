import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SERVICE_NODE_FLAGS } from "../../src/cli/node-flags.ts";

const root = join(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(join(root, file), "utf8");

describe("every way of starting the service runs it with the same V8 settings", () => {
  const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
  const launchers: [string, string][] = [
    ["npm start", pkg.scripts["start"] ?? ""],
    ["npm run bench (the figures are measured under the service's settings)", pkg.scripts["bench"] ?? ""],
    ["npx governor (bin/governor.js)", read("bin/governor.js").split("\n")[0]!],
    ["the container (Dockerfile CMD)", (/^CMD (.*)$/m.exec(read("Dockerfile"))?.[1]) ?? ""],
  ];
  it("names at least one setting", () => {
    expect(SERVICE_NODE_FLAGS.length).toBeGreaterThan(0);
  });
  for (const [name, command] of launchers) {
    it(`${name} passes ${SERVICE_NODE_FLAGS.join(" ")} to node`, () => {
      const words = command.startsWith("CMD") || command.startsWith("[") ? (JSON.parse(command) as string[]) : command.split(/\s+/);
      const node = words.findIndex((w) => w === "node" || w.endsWith("/node"));
      expect(node).toBeGreaterThanOrEqual(0);
      for (const flag of SERVICE_NODE_FLAGS) expect(words.slice(node + 1)).toContain(flag);
    });
  }
});
