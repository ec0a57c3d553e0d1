/** Marketplace events as parsed: event times are RFC 3339 date-times that name a real instant, bounded in length. */
import { describe, expect, it } from "vitest";
import { deliveryRetentionMs, MarketplaceEvent, parseRfc3339 } from "../../src/app/marketplace.ts";

describe("parseRfc3339", () => {
  it("reads UTC and offset date-times, to the millisecond", () => {
    expect(parseRfc3339("2026-12-01T10:00:00Z")).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseRfc3339("2026-12-01T10:00:00.250Z")).toBe(Date.UTC(2026, 11, 1, 10, 0, 0, 250));
    // Google sends microseconds and nanoseconds: what is finer than a millisecond does not order events.
    expect(parseRfc3339("2026-12-01T10:00:00.123456789Z")).toBe(Date.UTC(2026, 11, 1, 10, 0, 0, 123));
    expect(parseRfc3339("2026-12-01T11:00:00+01:00")).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseRfc3339("2026-12-01t10:00:00z")).toBe(Date.UTC(2026, 11, 1, 10));
  });

  it("refuses what is not a real instant", () => {
    const invalid = ["2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T10:60:00Z", "2026-12-01 10:00:00Z", "2026-12-01T10:00:00", "1764583200", ""];
    expect(invalid.filter((text) => !Number.isNaN(parseRfc3339(text)))).toEqual([]);
  });
});

describe("MarketplaceEvent", () => {
  const event = { eventId: "evt-1", eventType: "ENTITLEMENT_PLAN_CHANGED", entitlement: { id: "ent-1", account_id: "acme", plan: "starter" } };

  it("takes optional eventTime and entitlement.updateTime", () => {
    const parsed = MarketplaceEvent.parse({ ...event, eventTime: "2026-12-01T10:00:00Z", entitlement: { ...event.entitlement, updateTime: "2026-12-01T10:00:01.5Z" } });
    expect(parsed.eventTime).toBe("2026-12-01T10:00:00Z");
    expect(parsed.entitlement.updateTime).toBe("2026-12-01T10:00:01.5Z");
    expect(MarketplaceEvent.parse(event).eventTime).toBeUndefined();
  });

  it("refuses an event time that is not a date-time, or longer than 40 characters, naming the field", () => {
    for (const bad of [{ eventTime: "2026-02-30T00:00:00Z" }, { eventTime: `2026-12-01T10:00:00.${"0".repeat(40)}Z` }, { eventTime: 1764583200 }]) {
      const result = MarketplaceEvent.safeParse({ ...event, ...bad });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(["eventTime"]);
    }
    const result = MarketplaceEvent.safeParse({ ...event, entitlement: { ...event.entitlement, updateTime: "soon" } });
    expect(result.error?.issues[0]?.path).toEqual(["entitlement", "updateTime"]);
  });
});

describe("deliveryRetentionMs", () => {
  it("keeps a delivery id a day at least, and past twice the timestamp tolerance (a timestamp in the future) with an hour's margin", () => {
    expect(deliveryRetentionMs(300)).toBe(24 * 3600_000);
    expect(deliveryRetentionMs(86_400)).toBe((2 * 86_400 + 3600) * 1000);
  });
});
