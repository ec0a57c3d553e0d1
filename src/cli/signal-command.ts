/** `governor signal <account> <action> [--params JSON] [--id ID]`: what a tenant system sends. */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { call, ClientError, clientConfig, expectOk, runClient } from "./client.ts";

export const summary = "send a signal (an action request) to a tenant's governor";

const usage = "usage: governor signal <account> <action> [--params '{\"k\":\"v\"}'] [--id <signal id>]";

export async function run(argv: string[]): Promise<number> {
  return runClient("signal", async () => {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, options: { params: { type: "string" }, id: { type: "string" } } });
    } catch (err) {
      throw new ClientError(`${(err as Error).message}\n${usage}`, 2);
    }
    const [account, action] = parsed.positionals;
    if (account === undefined || action === undefined) throw new ClientError(usage, 2);
    let params: unknown = {};
    if (parsed.values.params !== undefined) {
      try {
        params = JSON.parse(parsed.values.params);
      } catch (err) {
        throw new ClientError(`--params is not valid JSON: ${(err as Error).message}`, 2);
      }
    }
    const res = await expectOk(
      await call(clientConfig(), "POST", `/v1/tenants/${encodeURIComponent(account)}/signals`, {
        scope: "tenant",
        body: { signal_id: parsed.values.id ?? `sig-${randomUUID()}`, action, params },
      }),
    );
    process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
  });
}
