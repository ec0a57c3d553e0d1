/** A real second process holding a SQLite database's write lock: how the embedded store fails for real. */
import { spawn } from "node:child_process";

/** Another process that takes the database's write lock and holds it until killed. */
export async function holdWriteLock(path: string): Promise<{ release(): Promise<void> }> {
  const script = `
    import { DatabaseSync } from "node:sqlite";
    const db = new DatabaseSync(${JSON.stringify(path)});
    // The service may be committing at this instant: wait for its transaction instead of failing with SQLITE_BUSY.
    db.exec("PRAGMA busy_timeout = 10000");
    db.exec("BEGIN IMMEDIATE");
    process.stdout.write("locked\\n");
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  await new Promise<void>((res, rej) => {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      if (d.includes("locked")) res();
    });
    child.once("exit", (code) => rej(new Error(`the lock holder exited early (${code})`)));
  });
  return {
    async release() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
