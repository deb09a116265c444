// The order ticket's checks before anything is sent: the same grid rules as the engine, so an
// off-tick price or an off-lot quantity is caught here with the server's own words.
import { compare, decimals, isMultiple, parse } from "./decimal";
import type { Instrument } from "../api/types";

export type TicketKind = "limit" | "market" | "stop" | "stop_limit";

export interface TicketInput {
  type: TicketKind;
  qty: string;
  price: string;
  stopPrice: string;
}

export type TicketErrors = Partial<Record<"qty" | "price" | "stop_price", string>>;

function checkGrid(field: string, text: string, step: string, what: string): string | null {
  if (text.trim() === "") return `${field} is required`;
  const value = parse(text);
  if (value === null || value.units < 0n) return `${field}: "${text}" is not a plain decimal`;
  if (value.units === 0n) return `${field} must be positive`;
  const stepDec = parse(step);
  if (stepDec === null) return null;
  if (decimals(text.trim()) > decimals(step) && !isMultiple(value, stepDec)) {
    return `${field}: ${text} has more decimals than the ${what} ${step} allows`;
  }
  if (!isMultiple(value, stepDec)) return `${field}: ${text} is not a multiple of the ${what} ${step}`;
  return null;
}

export function validateTicket(input: TicketInput, inst: Instrument): TicketErrors {
  const errors: TicketErrors = {};
  const qtyError = checkGrid("qty", input.qty, inst.lot_size, "lot size");
  if (qtyError) errors.qty = qtyError;
  else {
    const qty = parse(input.qty)!;
    const min = parse(inst.min_qty);
    if (min && compare(qty, min) < 0) errors.qty = `qty: below the minimum ${inst.min_qty}`;
    const max = inst.max_qty ? parse(inst.max_qty) : null;
    if (max && compare(qty, max) > 0) errors.qty = `qty: above the maximum ${inst.max_qty}`;
  }
  if (input.type === "limit" || input.type === "stop_limit") {
    const e = checkGrid("price", input.price, inst.tick_size, "tick size");
    if (e) errors.price = e;
  }
  if (input.type === "stop" || input.type === "stop_limit") {
    const e = checkGrid("stop price", input.stopPrice, inst.tick_size, "tick size");
    if (e) errors.stop_price = e;
  }
  return errors;
}

/**
 * A partial close's quantity: on the lot grid and not above the position (the fallback
 * service's own checks and words); empty means the whole position.
 */
export function validateCloseQty(qty: string, inst: Instrument, positionQty: string): string | null {
  if (qty.trim() === "") return null;
  const problem = checkGrid("qty", qty, inst.lot_size, "lot size");
  if (problem) return problem;
  const position = parse(positionQty);
  if (position && compare(parse(qty)!, position) > 0) return "qty: is larger than the position";
  return null;
}

/** A dealer's manual price: on the instrument's tick grid (the engine's words). */
export function validatePrice(price: string, inst: Instrument): string | null {
  return checkGrid("price", price, inst.tick_size, "tick size");
}
