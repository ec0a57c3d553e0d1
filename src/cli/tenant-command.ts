/** `governor tenant provision|plan|cancel|show <account>`: the marketplace and operator side of a demo. */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { call, ClientError, clientConfig, expectOk, runClient, sendMarketplaceEvent } from "./client.ts";

export const summary = "provision, re-plan, cancel or show a tenant (signed marketplace events)";

const usage = `usage:
  governor tenant provision <account> --sku <sku> --plan <plan> [--entitlement <id>] [--region <r>]
  governor tenant plan <account> --plan <plan>
  governor tenant cancel <account>
  governor tenant show <account>
The service is at GOVERNOR_URL (default http://127.0.0.1:8080); credentials come from GOVERNOR_DATA_DIR/credentials.json or the environment.`;

export async function run(argv: string[]): Promise<number> {
  return runClient("tenant", async () => {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { sku: { type: "string" }, plan: { type: "string" }, entitlement: { type: "string" }, region: { type: "string" } },
      });
    } catch (err) {
      throw new ClientError(`${(err as Error).message}\n${usage}`, 2);
    }
    const [verb, account] = parsed.positionals;
    if (verb === undefined || account === undefined) throw new ClientError(usage, 2);
    const config = clientConfig();
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

async function print(res: Response): Promise<void> {
  process.stdout.write(`${JSON.stringify(await res.json(), null, 2)}\n`);
}
