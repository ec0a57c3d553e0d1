/**
 * The other edges where outside JSON enters: Pub/Sub message data (signals
 * and procurement events) and policy files. Each is bounded as an HTTP body
 * is, and what is refused comes back as a reason, never as an exception.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeMessageJson, decodeSignal } from "../../src/ingress/signal-body.ts";
import { readPolicyJson } from "../../src/cli/policy-files.ts";
import { MAX_POLICY_BYTES } from "../../src/policy/schema.ts";
import { scratchDir } from "../support/service.ts";

const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

describe("Pub/Sub message data", () => {
  it("decodes a signal within the limits", () => {
    expect(decodeSignal(Buffer.from('{"signal_id":"s1","action":"noop","params":{"note":"é"}}'))).toEqual({ signal: { signal_id: "s1", action: "noop", params: { note: "é" } } });
  });

  it("gives a reason for data nested 1,000 deep, too large, not UTF-8, with a member twice, or not a signal", () => {
    const reason = (data: string | Buffer, max?: number) => {
      const r = decodeSignal(typeof data === "string" ? Buffer.from(data) : data, max);
      return "reason" in r ? r.reason : "decoded";
    };
    expect(reason(`{"signal_id":"s1","action":"noop","params":{"x":${nested(1000)}}}`)).toMatch(/refused: \$\.params\.x\[0\].*nested more than 32 levels deep \(code BODY_TOO_DEEP\)/);
    expect(reason(`{"signal_id":"s1","action":"noop","params":{"x":"${"y".repeat(2000)}"}}`, 1024)).toMatch(/over the limit of 1024 \(code BODY_TOO_LARGE\)/);
    expect(reason(Buffer.from([0x7b, 0xff, 0x7d]))).toMatch(/not valid UTF-8/);
    expect(reason(`{"signal_id":"s1","signal_id":"s2","action":"noop"}`)).toMatch(/BODY_DUPLICATE_MEMBER/);
    expect(reason(`{"signal_id":"s1","action":"noop","params":{"x":1e400}}`)).toMatch(/BODY_NUMBER_OUT_OF_RANGE/);
    expect(reason("{")).toMatch(/^the message is not JSON: /);
    expect(reason('{"signal_id":"s1"}')).toMatch(/^the message is not a signal: action/);
  });

  it("bounds procurement events the same way", () => {
    expect(decodeMessageJson(Buffer.from(`{"eventId":"e","entitlement":${nested(100)}}`))).toMatchObject({ reason: expect.stringContaining("BODY_TOO_DEEP") as unknown });
    expect(decodeMessageJson(Buffer.from('{"eventId":"e"}'))).toEqual({ value: { eventId: "e" } });
  });
});

describe("policy files", () => {
  const dir = scratchDir("governor-policy-bounds-");
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it("refuses a file over the policy size limit, one nested too deep, and one that is not UTF-8, each as an issue", async () => {
    expect(await readPolicyJson(file("big.json", `{"description":"${"x".repeat(MAX_POLICY_BYTES)}"}`))).toEqual({
      issues: [{ path: "(document)", message: expect.stringContaining(`a policy document is at most ${MAX_POLICY_BYTES} bytes`) as unknown }],
    });
    expect(await readPolicyJson(file("deep.json", `{"actions":${nested(50)}}`))).toEqual({ issues: [{ path: "(document)", message: expect.stringMatching(/^refused: \$\.actions.*nested more than 32/) as unknown }] });
    writeFileSync(join(dir, "latin1.json"), Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]));
    expect(await readPolicyJson(join(dir, "latin1.json"))).toEqual({ issues: [{ path: "(document)", message: "not valid UTF-8 (JSON text must be UTF-8)" }] });
    expect(await readPolicyJson(file("ok.json", '{"sku_id":"demo"}'))).toEqual({ json: { sku_id: "demo" } });
  });
});
