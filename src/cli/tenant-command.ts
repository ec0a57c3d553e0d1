/**
 * `governor tenant provision|plan|cancel|show <account>` and
 * `governor tenant token create|list|revoke <account> [token id]`: the
 * marketplace and operator side of a demo.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { call, ClientError, clientConfig, expectOk, runClient, sendMarketplaceEvent } from "./client.ts";

export const summary = "provision, re-plan, cancel or show a tenant (signed marketplace events); issue, list or revoke its tokens";

const usage = `usage:
  governor tenant provision <account> --sku <sku> --plan <plan> [--entitlement <id>] [--region <r>]
  governor tenant plan <account> --plan <plan>
  governor tenant cancel <account>
  governor tenant show <account>
  governor tenant token create <account> [--token-only]  issue a tenant token (printed once: keep it)
  governor tenant token list <account>                   ids, creation and last use (never the tokens)
  governor tenant token revoke <account> <token id>      revoke a token at once
The service is at GOVERNOR_URL (default http://127.0.0.1:8080); credentials come from GOVERNOR_DATA_DIR/credentials.json or the environment.`;

export async function run(argv: string[]): Promise<number> {
  return runClient("tenant", async () => {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { sku: { type: "string" }, plan: { type: "string" }, entitlement: { type: "string" }, region: { type: "string" }, "token-only": { type: "boolean" } },
      });
    } catch (err) {
      throw new ClientError(`${(err as Error).message}\n${usage}`, 2);
    }
    const [verb, account] = parsed.positionals;
    if (verb === undefined || account === undefined) throw new ClientError(usage, 2);
    const config = clientConfig();
    if (verb === "token") return token(config, parsed.positionals.slice(1), parsed.values["token-only"] === true);
    const v = parsed.values;
    const event = (eventType: string) => ({
      eventId: `evt-${randomUUID()}`,
      eventType,
      entitlement: {
        id: v.entitlement ?? `ent-${account}`,
        account_id: account,
        ...(v.sku ? { sku_id: v.sku } : {}),
        ...(v.plan ? { plan: v.plan } : {}),
        ...(v.region ? { region: v.region } : {}),
      },
    });
    switch (verb) {
      case "provision":
        if (!v.sku || !v.plan) throw new ClientError(`provision needs --sku and --plan\n${usage}`, 2);
        return print(await expectOk(await sendMarketplaceEvent(config, event("ENTITLEMENT_ACTIVE"))));
      case "plan":
        if (!v.plan) throw new ClientError(`plan needs --plan\n${usage}`, 2);
        return print(await expectOk(await sendMarketplaceEvent(config, event("ENTITLEMENT_PLAN_CHANGED"))));
      case "cancel":
        return print(await expectOk(await sendMarketplaceEvent(config, event("ENTITLEMENT_CANCELLED"))));
      case "show":
        return print(await expectOk(await call(config, "GET", `/v1/tenants/${encodeURIComponent(account)}`, { scope: "operator" })));
      default:
        throw new ClientError(`unknown verb "${verb}"\n${usage}`, 2);
    }
  });
}

/** `token create|list|revoke <account> [token id]` (operator scope). */
async function token(config: ReturnType<typeof clientConfig>, args: string[], tokenOnly: boolean): Promise<void> {
  const [action, account, tokenId] = args;
  if (action === undefined || account === undefined) throw new ClientError(usage, 2);
  const path = `/v1/tenants/${encodeURIComponent(account)}/tokens`;
  switch (action) {
    case "create": {
      const res = await expectOk(await call(config, "POST", path, { scope: "operator" }));
      const body = (await res.json()) as { token_id: string; token: string };
      process.stdout.write(tokenOnly ? `${body.token}\n` : `${JSON.stringify(body, null, 2)}\n`);
      process.stderr.write(`the token is shown this once; the tenant's systems send it as Authorization: Bearer <token> (governor signal: --token or GOVERNOR_TOKEN)\n`);
      return;
    }
    case "list":
      return print(await expectOk(await call(config, "GET", path, { scope: "operator" })));
    case "revoke":
      if (tokenId === undefined) throw new ClientError(`revoke needs the token id (governor tenant token list ${account})\n${usage}`, 2);
      return print(await expectOk(await call(config, "DELETE", `${path}/${encodeURIComponent(tokenId)}`, { scope: "operator" })));
    default:
      throw new ClientError(`unknown token action "${action}"\n${usage}`, 2);
  }
}

async function print(res: Response): Promise<void> {
  process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
}
