import { describe, expect, it } from "vitest";
import type { Instrument } from "../api/types";
import { validateTicket } from "./validate";

const aapl = {
  symbol: "AAPL", kind: "spot", base: "AAPL", quote: "USD", tick_size: "0.01", lot_size: "1",
  min_qty: "1", max_qty: "100000", price_band: "0.15", maker_fee: "0", taker_fee: "0.0005",
  margin_rate: null, stop_collar: "0.05", status: "trading",
} as Instrument;
const eur = { ...aapl, symbol: "EUR-USD", kind: "margin", tick_size: "0.00005", lot_size: "1000",
              min_qty: "1000", max_qty: null } as Instrument;

const limit = (qty: string, price: string) => ({ type: "limit" as const, qty, price, stopPrice: "" });

describe("the ticket's checks", () => {
  it("passes an order on the grid", () => {
    expect(validateTicket(limit("10", "189.95"), aapl)).toEqual({});
    expect(validateTicket(limit("3000", "1.08015"), eur)).toEqual({});
  });

  it("refuses a price finer than the tick, in the engine's words", () => {
    expect(validateTicket(limit("1", "100.255"), aapl).price).toBe(
      "price: 100.255 has more decimals than the tick size 0.01 allows");
  });

  it("refuses a price on the tick's decimals but off its multiples", () => {
    expect(validateTicket(limit("3000", "1.08013"), eur).price).toBe(
      "price: 1.08013 is not a multiple of the tick size 0.00005");
  });

  it("refuses a quantity off the lot, below the minimum, or above the maximum", () => {
    expect(validateTicket(limit("1500", "1.08"), eur).qty).toBe(
      "qty: 1500 is not a multiple of the lot size 1000");
    expect(validateTicket(limit("0", "1"), aapl).qty).toBe("qty must be positive");
    expect(validateTicket(limit("200000", "1"), aapl).qty).toBe("qty: above the maximum 100000");
    expect(validateTicket(limit("1e3", "1"), aapl).qty).toBe('qty: "1e3" is not a plain decimal');
  });

  it("asks only for the prices the order type takes", () => {
    expect(validateTicket({ type: "market", qty: "1", price: "", stopPrice: "" }, aapl)).toEqual({});
    expect(validateTicket({ type: "stop", qty: "1", price: "", stopPrice: "" }, aapl)).toEqual({
      stop_price: "stop price is required" });
    expect(validateTicket({ type: "stop_limit", qty: "1", price: "", stopPrice: "200" }, aapl))
      .toEqual({ price: "price is required" });
  });
});
