/** Policy files in memory, for tests: `write` changes a file and, once watched, reports it as the directory source does after it settles. */
import type { PolicyFileRead, PolicySource } from "../../ports/index.ts";

export interface MemoryPolicySource extends PolicySource {
  /** Sets a file's text (a path name, e.g. "shop.json") and reports it to the watcher. */
  write(file: string, text: string): void;
}

export function createMemoryPolicySource(files: Record<string, string> = {}, options: { exists?: boolean } = {}): MemoryPolicySource {
  const texts = new Map(Object.entries(files));
  let onChange: ((read: PolicyFileRead) => void) | null = null;
  return {
    location: "memory:policies",
    exists: async () => options.exists ?? true,
    async readAll() {
      return [...texts.keys()].sort().map((file) => ({ file, text: texts.get(file)! }));
    },
    watch(listener) {
      onChange ??= listener;
    },
    write(file, text) {
      texts.set(file, text);
      onChange?.({ file, text });
    },
    close() {
      onChange = null;
    },
  };
}
