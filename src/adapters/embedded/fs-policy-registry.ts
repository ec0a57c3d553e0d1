/**
 * The embedded policy registry, in a directory:
 * - `{dir}/{sku}/{version}.json`: every pushed version, created atomically
 *   and only if absent: a temp file is written and fsynced, then hard-linked
 *   into place (`link` fails with EEXIST when the name exists, so a version
 *   is never overwritten, even by two writers at once), then the temp file
 *   is removed;
 * - `{dir}/{sku}/CURRENT`: the current version's text, replaced by writing a
 *   temp file, fsyncing it and renaming it over the old one.
 * SKU ids and versions must match the policy schema's patterns, so no name
 * can leave the directory.
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { checkPolicyKey as checkKey, isPolicyVersion, isSkuId, type PolicyPutOutcome, type PolicyRegistry } from "../../ports/index.ts";


const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException | undefined)?.code === code;

/** Entries of a directory; none when it does not exist. */
async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return null;
    throw err;
  }
}

/** Writes a new file (never an existing one) and fsyncs it. */
async function writeDurably(path: string, data: string): Promise<void> {
  const fh = await open(path, "wx", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a directory's entries durable (a new link, a rename). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A PolicyRegistry in the directory `dir` (created when first written). */
export function createDirectoryPolicyRegistry(dir: string): PolicyRegistry {
  const root = resolve(dir);
  const tempIn = (skuDir: string) => join(skuDir, `.tmp-${randomBytes(8).toString("hex")}`);

  /** The SKU's directory, created (durably, with its parents' entries) when absent. */
  const skuDirOf = async (sku: string) => {
    const skuDir = join(root, sku);
    const created = await mkdir(skuDir, { recursive: true });
    if (created !== undefined) {
      for (let d = skuDir; d.length >= created.length; d = dirname(d)) await syncDir(dirname(d));
    }
    return skuDir;
  };

  return {
    async put(sku, version, document): Promise<PolicyPutOutcome> {
      checkKey(sku, version);
      const skuDir = await skuDirOf(sku);
      const tmp = tempIn(skuDir);
      await writeDurably(tmp, document);
      try {
        await link(tmp, join(skuDir, `${version}.json`));
        await syncDir(skuDir);
        return "created";
      } catch (err) {
        if (!isErrno(err, "EEXIST")) throw err;
        return (await readFile(join(skuDir, `${version}.json`), "utf8")) === document ? "unchanged" : "conflict";
      } finally {
        await unlink(tmp).catch(() => {});
      }
    },
    async get(sku, version) {
      checkKey(sku, version);
      return readOrNull(join(root, sku, `${version}.json`));
    },
    async list() {
      const out: { skuId: string; version: string }[] = [];
      for (const sku of await entries(root)) {
        if (!sku.isDirectory() || !isSkuId(sku.name)) continue;
        for (const file of await entries(join(root, sku.name))) {
          const version = file.name.endsWith(".json") ? file.name.slice(0, -5) : "";
          if (file.isFile() && isPolicyVersion(version)) out.push({ skuId: sku.name, version });
        }
      }
      return out;
    },
    async setCurrent(sku, version) {
      checkKey(sku, version);
      const skuDir = await skuDirOf(sku);
      const tmp = tempIn(skuDir);
      try {
        await writeDurably(tmp, `${version}\n`);
        await rename(tmp, join(skuDir, "CURRENT"));
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
      await syncDir(skuDir);
    },
    async currentVersions() {
      const out = new Map<string, string>();
      for (const sku of await entries(root)) {
        if (!sku.isDirectory() || !isSkuId(sku.name)) continue;
        const version = (await readOrNull(join(root, sku.name, "CURRENT")))?.trim();
        if (version !== undefined && isPolicyVersion(version)) out.set(sku.name, version);
      }
      return out;
    },
  };
}
