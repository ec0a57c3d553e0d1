/** Policy files as the CLI reads them: through the policies directory's own reader, then parsed within the policy bounds. */
import { readPolicyFile } from "../adapters/embedded/fs-policy-source.ts";
import { parsePolicyText } from "../policy/rollout.ts";
import { MAX_POLICY_BYTES, type PolicyIssue } from "../policy/schema.ts";

export { listPolicyFiles } from "../adapters/embedded/fs-policy-source.ts";

/** Reads and parses one policy file; unreadable, too large or invalid JSON comes back as issues. */
export async function readPolicyJson(file: string): Promise<{ json: unknown } | { issues: PolicyIssue[] }> {
  const read = await readPolicyFile(file, MAX_POLICY_BYTES);
  if ("unreadable" in read) return { issues: [{ path: "(file)", message: `cannot read ${file}: ${read.unreadable}` }] };
  if ("problem" in read) return { issues: [{ path: "(document)", message: read.problem }] };
  return parsePolicyText(read.text);
}
