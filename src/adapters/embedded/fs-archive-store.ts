/** Archives in a local directory: the embedded ArchiveStore. */
import { mkdir, readFile, rename, writeFile, open } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ArchiveStore } from "../../ports/index.ts";

const safeName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

export function createDirectoryArchiveStore(dir: string): ArchiveStore & { pathOf(name: string): string } {
  const root = resolve(dir);
  const pathOf = (name: string) => {
    if (!safeName.test(name)) throw new Error(`archive name "${name}" is not a plain file name`);
    return join(root, name);
  };
  return {
    pathOf,
    async put(name, data) {
      const path = pathOf(name);
      await mkdir(root, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, data);
      const fh = await open(tmp, "r");
      await fh.sync();
      await fh.close();
      await rename(tmp, path);
      return { uri: pathToFileURL(path).href, bytes: data.byteLength };
    },
    async get(name) {
      try {
        return new Uint8Array(await readFile(pathOf(name)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
    },
  };
}
