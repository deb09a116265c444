import { describe, expect, it } from "vitest";
import type { FallbackRequest, Instrument } from "../api/types";
import { ActionKeys, age, mergeById, newKey, outcome, toNanos } from "./requests";
import { validateCloseQty } from "./validate";

const eur = {
  symbol: "EUR-USD", kind: "margin", base: "EUR", quote: "USD", tick_size: "0.00001",
  lot_size: "1", min_qty: "1", max_qty: null, price_band: "0.15", maker_fee: "0",
  taker_fee: "0", margin_rate: "0.05", stop_collar: "0.05", status: "trading",
} as Instrument;

const request = (over: Partial<FallbackRequest>): FallbackRequest => ({
  id: "r1", kind: "close_position", symbol: "EUR-USD", order_id: null, side: "long", qty: null,
  known_qty: "100", known_price: "1.10000", notional: "110.00", note: "", batch_id: null,
  status: "pending", created_at: "2026-12-02T17:00:00.000000001Z",
  updated_at: "2026-12-02T17:00:00.000000001Z", claimed: false, execution: null, price: null,
  executed_qty: null, executed_at: null, booking: "none", reject_code: null,
  reject_reason: null, engine_order_id: null, ...over,
});

describe("the fallback pages' helpers", () => {
  it("reads RFC 3339 times as exact nanoseconds", () => {
    expect(toNanos("1970-01-01T00:00:01.000000002Z")).toBe(1_000_000_002n);
    expect(toNanos("2026-12-02T17:35:31.123456789Z")).toBe(1_796_232_931_123_456_789n);
    expect(toNanos("2026-12-02T17:35:31Z")).toBe(1_796_232_931_000_000_000n);
    expect(toNanos("yesterday")).toBeNull();
  });

  it("makes version 4 UUIDs, one per action until it is answered", () => {
    expect(newKey()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const keys = new ActionKeys();
    const first = keys.keyFor("close:EUR-USD");
    expect(keys.keyFor("close:EUR-USD")).toBe(first); // a retry of the same action
    expect(keys.keyFor("cancel:o1")).not.toBe(first);
    keys.done("close:EUR-USD");
    expect(keys.keyFor("close:EUR-USD")).not.toBe(first); // a new action after the answer
  });

  it("merges by id, never back to an older version", () => {
    const old = request({ status: "pending" });
    const newer = request({ status: "claimed", updated_at: "2026-12-02T17:00:01.000000000Z" });
    const other = request({ id: "r2", created_at: "2026-12-02T17:00:05.000000000Z" });
    expect(mergeById([newer], [old])).toEqual([newer]);
    expect(mergeById([old], [newer, other]).map((r) => [r.id, r.status])).toEqual(
      [["r2", "pending"], ["r1", "claimed"]]);
  });

  it("says the outcome: price and quantity, or the rejection's code and reason", () => {
    expect(outcome(request({ status: "executed", price: "1.09000", executed_qty: "100" })))
      .toBe("100 at 1.09000");
    expect(outcome(request({ status: "rejected", reject_code: "market_closed",
                             reject_reason: "Closed" }))).toBe("market_closed: Closed");
    expect(outcome(request({ status: "approved" }))).toBe("");
    expect(age(59)).toBe("59 s");
    expect(age(185)).toBe("3 m 05 s");
    expect(age(3720)).toBe("1 h 02 m");
  });

  it("checks a partial close on the lot grid and against the position", () => {
    expect(validateCloseQty("", eur, "100")).toBeNull();
    expect(validateCloseQty("40", eur, "100")).toBeNull();
    expect(validateCloseQty("10.5", eur, "100")).toBe(
      "qty: 10.5 has more decimals than the lot size 1 allows");
    expect(validateCloseQty("101", eur, "100")).toBe("qty: is larger than the position");
    expect(validateCloseQty("0", eur, "100")).toBe("qty must be positive");
  });
});
