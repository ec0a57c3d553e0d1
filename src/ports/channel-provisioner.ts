/**
 * Driven port: per-tenant signal channels (embedded: in-process, signals
 * come over HTTP; GCP: a Pub/Sub topic, subscription and dead-letter topic).
 * Provisioning creates a tenant's channel and cancellation deletes it; what
 * arrives on the channels reaches the runtime through a `SignalSource`.
 */
export interface ChannelProvisioner {
  /** Creates the tenant's channel; resolves with its name. Idempotent. */
  create(account: string): Promise<string>;
  /** Deletes it. Idempotent. */
  delete(account: string): Promise<void>;
  /** The tenant's concurrency changed: how much the channel lets through at once follows it. */
  tune?(account: string, concurrency: number): void;
}
