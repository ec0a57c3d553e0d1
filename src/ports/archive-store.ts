/** Where export archives go (embedded: a directory; GCP: a bucket). */
export interface ArchiveStore {
  /** Stores an archive under `name`; resolves with a URI an operator can use to fetch it. */
  put(name: string, data: Uint8Array): Promise<{ uri: string; bytes: number }>;
  get(name: string): Promise<Uint8Array | null>;
}
