/**
 * Policy files from a directory: every `*.json` file in it (hidden and
 * editor temp files skipped), and, when watched, each file again once an
 * edit to it has settled. Editors write a file in several steps, so a change
 * is reported only after `settleMs` without further events and two reads a
 * moment apart agree.
 */
import { watch as watchDirectory, type FSWatcher } from "node:fs";
import { isUtf8 } from "node:buffer";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Clock, PolicyFileRead, PolicySource } from "../../ports/index.ts";

export interface DirectoryPolicySourceOptions {
  readonly dir: string;
  /** Largest file read: a larger one is reported with a problem, unread. */
  readonly maxBytes: number;
  /** Watch the directory for edits (otherwise it is read at start only). */
  readonly watch: boolean;
  /** Quiet time after an event before a file is read (default 300 ms). */
  readonly settleMs?: number;
  readonly clock: Clock;
  /** Told when watching fails (the directory went away, say). */
  readonly onWatchError?: (err: Error) => void;
}

const isPolicyFileName = (name: string) => name.endsWith(".json") && !name.startsWith(".");

/** The `*.json` files of a policies directory, in name order (hidden and editor temp files skipped). */
export async function listPolicyFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter(isPolicyFileName).sort().map((n) => join(dir, n));
}

/**
 * One policy file: its text, or why it cannot be taken (larger than
 * `maxBytes`, not UTF-8), or `unreadable` with the error's code when it
 * cannot be read at all (removed, say).
 */
export async function readPolicyFile(file: string, maxBytes: number): Promise<PolicyFileRead | { readonly file: string; readonly unreadable: string }> {
  let bytes: Buffer;
  try {
    const size = (await stat(file)).size;
    if (size > maxBytes) return { file, problem: `the file is ${size} bytes; a policy document is at most ${maxBytes} bytes` };
    bytes = await readFile(file);
  } catch (err) {
    return { file, unreadable: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
  if (!isUtf8(bytes)) return { file, problem: "not valid UTF-8 (JSON text must be UTF-8)" };
  return { file, text: bytes.toString("utf8") };
}

export function createDirectoryPolicySource(options: DirectoryPolicySourceOptions): PolicySource {
  const { dir, maxBytes, clock } = options;
  const settleMs = options.settleMs ?? 300;
  let watcher: FSWatcher | null = null;
  const pending = new Map<string, { cancel(): void }>();

  /** The file as read now; null when it cannot be read (removed, say). */
  const read = async (file: string): Promise<PolicyFileRead | null> => {
    const r = await readPolicyFile(file, maxBytes);
    return "unreadable" in r ? null : r;
  };

  const pause = () => new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(100, settleMs)));
  const same = (a: PolicyFileRead | null, b: PolicyFileRead | null) => a !== null && b !== null && "text" in a && "text" in b && a.text === b.text;

  /** The file once two reads a moment apart agree (it may still be being written); null when it is gone. */
  const settled = async (file: string): Promise<PolicyFileRead | null> => {
    let last = await read(file);
    for (let i = 0; i < 10 && last !== null; i++) {
      await pause();
      const again = await read(file);
      if (same(again, last)) break;
      last = again;
    }
    return last;
  };

  return {
    location: dir,
    exists: () => stat(dir).then((s) => s.isDirectory(), () => false),
    async readAll() {
      const out: PolicyFileRead[] = [];
      for (const file of await listPolicyFiles(dir)) out.push((await read(file)) ?? { file, problem: `cannot read ${file}` });
      return out;
    },
    ...(options.watch
      ? {
          watch(onChange: (read: PolicyFileRead) => void) {
            if (watcher !== null) return;
            watcher = watchDirectory(dir, { persistent: false }, (_event, name) => {
              if (name === null || !isPolicyFileName(name)) return;
              const file = join(dir, name);
              pending.get(file)?.cancel();
              pending.set(
                file,
                clock.setTimeout(() => {
                  pending.delete(file);
                  void settled(file).then((r) => {
                    if (r !== null) onChange(r);
                  });
                }, settleMs),
              );
            });
            watcher.on("error", (err) => options.onWatchError?.(err));
          },
        }
      : {}),
    close() {
      watcher?.close();
      watcher = null;
      for (const t of pending.values()) t.cancel();
      pending.clear();
    },
  };
}
