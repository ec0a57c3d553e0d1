/**
 * Driven port: where policy files are read from at start and, if the backend
 * watches them, whenever they change (embedded and GCP alike: the policies
 * directory). The source reads text only; validating it is the policy
 * rollout's job, so every source is judged by the same rules.
 */

/** One policy file as read: its text, or why it could not be read (unreadable, too large, not UTF-8). */
export type PolicyFileRead = { readonly file: string; readonly text: string } | { readonly file: string; readonly problem: string };

export interface PolicySource {
  /** Where the files are, for log lines. */
  readonly location: string;
  /** False when there is nothing to read (no SKU can be provisioned until policies are pushed). */
  exists(): Promise<boolean>;
  /** Every policy file, in name order. */
  readAll(): Promise<readonly PolicyFileRead[]>;
  /**
   * Calls `onChange` with a file once it changed and settled (two reads a
   * moment apart agree). A file removed is not reported: a version once
   * pushed stays in the registry. Absent when the backend does not watch.
   */
  watch?(onChange: (read: PolicyFileRead) => void): void;
  /** Stops watching. */
  close(): void;
}
