/** `governor export <account|_platform> [-o file]`: download a ledger's archive for an auditor. */
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { call, ClientError, clientConfig, expectOk, runClient } from "./client.ts";

export const summary = "download a ledger's export archive (.tar.gz) from the service";

const usage = "usage: governor export <account|_platform> [-o <file.tar.gz>]";

export async function run(argv: string[]): Promise<number> {
  return runClient("export", async () => {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, options: { output: { type: "string", short: "o" } } });
    } catch (err) {
      throw new ClientError(`${(err as Error).message}\n${usage}`, 2);
    }
    const [account] = parsed.positionals;
    if (account === undefined) throw new ClientError(usage, 2);
    const res = await expectOk(await call(clientConfig(), "GET", `/v1/tenants/${encodeURIComponent(account)}/export`, { scope: "auditor" }));
    const out = parsed.values.output ?? `${account}.tar.gz`;
    if (res.body === null) throw new ClientError("the service sent no archive");
    await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), createWriteStream(out));
    process.stdout.write(`${out} (sha256 ${res.headers.get("x-archive-sha256") ?? "?"})\n`);
  });
}
