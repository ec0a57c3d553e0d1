/**
 * The embedded policy registry: every pushed version as a file
 * `{dir}/{sku}/{version}.json`, created only if absent (a temp file, fsynced,
 * then hard-linked into place: `link` fails if the name exists, so a version
 * is never overwritten, even by two writers at once), and the current
 * version of each SKU in `{dir}/{sku}/CURRENT` (replaced atomically).
 */
import { link, mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { PolicyPutOutcome, PolicyRegistry } from "../../ports.ts";

const skuPattern = /^[a-z][a-z0-9_.-]{0,63}$/;
const versionPattern = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

function check(skuId: string, version?: string): void {
  if (!skuPattern.test(skuId) || skuId.includes("..")) throw new Error(`"${skuId.slice(0, 64)}" is not a SKU id`);
  if (version !== undefined && !versionPattern.test(version)) throw new Error(`"${version.slice(0, 64)}" is not a policy version`);
}

async function writeDurably(path: string, data: string): Promise<void> {
  const fh = await open(path, "wx", 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function createDirectoryPolicyRegistry(dir: string): PolicyRegistry {
  const root = resolve(dir);
  let seq = 0;
  const temp = (skuDir: string) => join(skuDir, `.tmp-${process.pid}-${Date.now()}-${seq++}`);

  const get = async (skuId: string, version: string): Promise<string | null> => {
    check(skuId, version);
    try {
      return await readFile(join(root, skuId, `${version}.json`), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  };

  return {
    async put(skuId, version, document): Promise<PolicyPutOutcome> {
      check(skuId, version);
      const skuDir = join(root, skuId);
      await mkdir(skuDir, { recursive: true });
      const tmp = temp(skuDir);
      await writeDurably(tmp, document);
      try {
        await link(tmp, join(skuDir, `${version}.json`));
        await syncDir(skuDir);
        return "created";
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        return (await get(skuId, version)) === document ? "unchanged" : "conflict";
      } finally {
        await unlink(tmp).catch(() => {});
      }
    },
    get,
    async list() {
      const out: { skuId: string; version: string }[] = [];
      const skus = await readdir(root).catch(() => [] as string[]);
      for (const skuId of skus) {
        if (!skuPattern.test(skuId)) continue;
        for (const name of await readdir(join(root, skuId)).catch(() => [] as string[])) {
          const version = name.endsWith(".json") ? name.slice(0, -5) : "";
          if (versionPattern.test(version)) out.push({ skuId, version });
        }
      }
      return out;
    },
    async setCurrent(skuId, version) {
      check(skuId, version);
      const skuDir = join(root, skuId);
      await mkdir(skuDir, { recursive: true });
      const tmp = temp(skuDir);
      await writeDurably(tmp, `${version}\n`);
      await rename(tmp, join(skuDir, "CURRENT"));
      await syncDir(skuDir);
    },
    async currentVersions() {
      const out = new Map<string, string>();
      for (const skuId of await readdir(root).catch(() => [] as string[])) {
        if (!skuPattern.test(skuId)) continue;
        const text = await readFile(join(root, skuId, "CURRENT"), "utf8").catch(() => null);
        const version = text?.trim();
        if (version !== undefined && versionPattern.test(version)) out.set(skuId, version);
      }
      return out;
    },
  };
}
