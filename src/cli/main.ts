#!/usr/bin/env node
/**
 * `governor <command>`: the one entry point of the CLI.
 * Each command lives in its own module and exports `run(argv): Promise<number>` (the exit code).
 */
type Command = { run(argv: string[]): Promise<number>; summary: string };

const commands: Record<string, () => Promise<Command>> = {
  serve: () => import("./serve-command.ts"),
  tenant: () => import("./tenant-command.ts"),
  signal: () => import("./signal-command.ts"),
  export: () => import("./export-command.ts"),
  verify: () => import("./verify-command.ts"),
  proof: () => import("./proof-command.ts"),
  policy: () => import("./policy-command.ts"),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name === undefined ? undefined : commands[name];
  if (load === undefined) {
    const lines = await Promise.all(
      Object.entries(commands).map(async ([n, l]) => `  ${n.padEnd(10)} ${(await l()).summary}`),
    );
    const out = name === undefined || name === "help" || name === "--help" ? process.stdout : process.stderr;
    if (name !== undefined && name !== "help" && name !== "--help") out.write(`governor: unknown command '${name}'\n\n`);
    out.write(`usage: governor <command> [options]\n\ncommands:\n${lines.join("\n")}\n`);
    return name === undefined || name === "help" || name === "--help" ? 0 : 2;
  }
  return (await load()).run(rest);
}

process.exitCode = await main(process.argv.slice(2));
