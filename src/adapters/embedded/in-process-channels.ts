/** Signal channels of the embedded default: signals arrive over HTTP in this process, so a channel is a name. */
import type { ChannelProvisioner } from "../../ports/index.ts";

export function createInProcessChannels(): ChannelProvisioner & { has(account: string): boolean } {
  const open = new Set<string>();
  return {
    has: (account) => open.has(account),
    create(account) {
      open.add(account);
      return Promise.resolve(`in-process:tenants.${account}.signals`);
    },
    delete(account) {
      open.delete(account);
      return Promise.resolve();
    },
  };
}
