/** Reading policy documents from a directory (the GitOps root). */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parsePolicy, type PolicyDocument, type PolicyIssue } from "./schema.ts";

export interface PolicyFileResult {
  readonly file: string;
  readonly policy?: PolicyDocument;
  readonly issues?: readonly PolicyIssue[];
}

/** Parses one policy file; JSON and schema problems come back as issues with paths, never as throws. */
export async function readPolicyFile(file: string): Promise<PolicyFileResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    return { file, issues: [{ path: "(file)", message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { file, issues: [{ path: "(document)", message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const parsed = parsePolicy(json);
  return parsed.ok ? { file, policy: parsed.policy } : { file, issues: parsed.issues };
}

/** Every `*.json` policy in a directory, in name order. */
export async function readPolicyDirectory(dir: string): Promise<PolicyFileResult[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  return Promise.all(names.map((n) => readPolicyFile(join(dir, n))));
}
