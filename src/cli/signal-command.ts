/** `governor signal <account> <action> [--params JSON] [--id ID] [--token T]`: what a tenant system sends. */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { call, ClientError, clientConfig, expectOk, runClient } from "./client.ts";

export const summary = "send a signal (an action request) to a tenant's governor, with the tenant's token";

const usage = `usage: governor signal <account> <action> [--params '{"k":"v"}'] [--id <signal id>] [--token <tenant token>]
The token is --token, else GOVERNOR_TOKEN: a token issued to this tenant (governor tenant token create <account>).
With neither, the admin token from GOVERNOR_DATA_DIR/credentials.json is used (local use only: it passes every tenant).`;

export async function run(argv: string[]): Promise<number> {
  return runClient("signal", async () => {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, allowPositionals: true, options: { params: { type: "string" }, id: { type: "string" }, token: { type: "string" } } });
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
    const token = parsed.values.token ?? (process.env["GOVERNOR_TOKEN"] || undefined);
    const config = clientConfig();
    if (token === undefined && config.tokens.admin === undefined) {
      throw new ClientError(`no token: pass --token or set GOVERNOR_TOKEN to a token of tenant ${account} (governor tenant token create ${account})`, 2);
    }
    const res = await expectOk(
      await call(config, "POST", `/v1/tenants/${encodeURIComponent(account)}/signals`, {
        ...(token === undefined ? { scope: "admin" as const } : { token }),
        body: { signal_id: parsed.values.id ?? `sig-${randomUUID()}`, action, params },
      }),
    );
    process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
  });
}
