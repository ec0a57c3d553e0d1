/**
 * The UsageMeter port on Service Control (src/adapters/gcp/service-control.ts),
 * with the real generated client against the HTTP double of Service Control v1
 * (no emulator exists for it).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createUsageMeter } from "../../src/adapters/gcp/service-control.ts";
import { UsageMeterError, type UsageMeter, type UsageOperation } from "../../src/ports/index.ts";
import { startServiceControlDouble, type ServiceControlDouble } from "../support/servicecontrol-double.ts";

const SERVICE = "governor.example.com";

const operation = (id: string, quantity: number, consumerId = "project_number:123"): UsageOperation => ({
  operationId: id,
  operationName: "governor.usage",
  consumerId,
  startTime: "2026-11-01T09:00:00.000Z",
  endTime: "2026-11-01T10:00:00.000Z",
  metrics: [{ metric: `${SERVICE}/actions`, quantity }],
  labels: { entitlement_id: "ent-1" },
});

async function rejection(p: Promise<unknown>): Promise<UsageMeterError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageMeterError);
  return err as UsageMeterError;
}

describe("UsageMeter on Service Control v1", () => {
  let double: ServiceControlDouble;
  let meter: UsageMeter;

  beforeEach(async () => {
    double = await startServiceControlDouble();
    meter = createUsageMeter({ serviceName: SERVICE, rootUrl: double.url, auth: "none", timeoutMs: 5_000 });
  });
  afterEach(async () => {
    await double.close();
  });

  it("checks the consumer on the service's check path, with no Authorization header", async () => {
    await expect(meter.check(operation("op-1", 3))).resolves.toEqual({ ok: true });
    expect(double.checks).toHaveLength(1);
    expect(double.checks[0]).toMatchObject({ serviceName: SERVICE, authorization: null });
    expect(double.checks[0]!.operations[0]).toMatchObject({ operationId: "op-1", consumerId: "project_number:123" });
    expect(double.unknown).toEqual([]);
  });

  it("answers a refused consumer with the check errors' codes", async () => {
    double.refuse("project_number:123", "SERVICE_NOT_ACTIVATED", "the service is not active");
    const check = await meter.check(operation("op-1", 3));
    expect(check).toEqual({ ok: false, codes: ["SERVICE_NOT_ACTIVATED"], detail: "SERVICE_NOT_ACTIVATED: the service is not active" });
  });

  it("reports the operation with its metrics as int64 values, its window and its labels", async () => {
    await meter.report(operation("op-1", 7));
    expect(double.reports).toHaveLength(1);
    expect(double.reports[0]!.operations).toEqual([
      {
        operationId: "op-1",
        operationName: "governor.usage",
        consumerId: "project_number:123",
        startTime: "2026-11-01T09:00:00.000Z",
        endTime: "2026-11-01T10:00:00.000Z",
        metrics: { [`${SERVICE}/actions`]: 7 },
        labels: { entitlement_id: "ent-1" },
      },
    ]);
    expect(double.billed("project_number:123", `${SERVICE}/actions`)).toBe(7);
    expect(double.unknown).toEqual([]);
  });

  it("a repeated operation id is accepted and billed once", async () => {
    await meter.report(operation("op-1", 7));
    await meter.report(operation("op-1", 7));
    await meter.report(operation("op-2", 2));
    expect(double.reports).toHaveLength(3);
    expect(double.billed("project_number:123", `${SERVICE}/actions`)).toBe(9);
  });

  it("a 503 or a 429 is retryable, and the client does not retry it on its own", async () => {
    double.failNext(1, 503);
    const e = await rejection(meter.report(operation("op-1", 1)));
    expect(e).toMatchObject({ retryable: true, status: 503, code: "USAGE_METER_UNAVAILABLE" });
    double.failNext(1, 429);
    expect(await rejection(meter.check(operation("op-1", 1)))).toMatchObject({ retryable: true, status: 429 });
    expect(double.reports).toHaveLength(0);
    expect(double.accepted.size).toBe(0);
  });

  it("a 400 is terminal", async () => {
    double.failNext(1, 400);
    expect(await rejection(meter.report(operation("op-1", 1)))).toMatchObject({ retryable: false, status: 400, code: "USAGE_METER_REFUSED" });
  });

  it("a hung endpoint fails at the call's deadline, retryable", async () => {
    const quick = createUsageMeter({ serviceName: SERVICE, rootUrl: double.url, auth: "none", timeoutMs: 200 });
    double.hang = true;
    expect(await rejection(quick.report(operation("op-1", 1)))).toMatchObject({ retryable: true, status: null });
    expect(double.accepted.size).toBe(0);
  });

  it("an error names the status, never the request (its headers may hold a token)", async () => {
    double.failNext(1, 500);
    const e = await rejection(meter.report(operation("op-1", 1)));
    expect(e.message).toBe("Service Control report: HTTP 500");
    expect(e.cause).toBeUndefined();
  });

  it("no answer is retryable, with no status", async () => {
    double.down = true;
    expect(await rejection(meter.report(operation("op-1", 1)))).toMatchObject({ retryable: true, status: null });
    expect(await rejection(meter.check(operation("op-1", 1)))).toMatchObject({ retryable: true, status: null });
    double.down = false;
    await meter.report(operation("op-1", 1));
    expect(double.billed("project_number:123", `${SERVICE}/actions`)).toBe(1);
  });
});
