// Helpers shared by the fallback and desk pages: idempotency keys, request times as exact
// nanoseconds (the polling cursor), and the words each status is shown with.
import type { FallbackRequest, RequestStatus } from "../api/types";

/** A random UUID (version 4) from the browser's CSPRNG; works outside secure contexts too. */
export function newKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * One Idempotency-Key per user action: the same action (same body) asked again after a
 * failure that may not have reached the server gets the same key; an answer ends it.
 */
export class ActionKeys {
  private keys = new Map<string, string>();

  keyFor(action: string): string {
    let key = this.keys.get(action);
    if (!key) {
      key = newKey();
      this.keys.set(action, key);
    }
    return key;
  }

  done(action: string): void {
    this.keys.delete(action);
  }
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

/** RFC 3339 UTC text with up to nine decimals as exact UTC nanoseconds (null if not such). */
export function toNanos(text: string): bigint | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** "2026-12-02T17:35:31.123456789Z" -> "2026-12-02 17:35:31 UTC". */
export function shortTime(text: string | null | undefined): string {
  return text ? `${text.slice(0, 10)} ${text.slice(11, 19)} UTC` : "—";
}

/** Seconds as "42 s", "3 m 05 s", "1 h 02 m". */
export function age(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
}

export const STATUS_LABEL: Record<RequestStatus, string> = {
  pending: "Pending",
  claimed: "Claimed by the desk",
  awaiting_approval: "Awaiting approval",
  approved: "Approved",
  executing: "Executing",
  executed: "Executed",
  rejected: "Rejected",
  withdrawn: "Withdrawn",
};

const OPEN: ReadonlySet<RequestStatus> = new Set<RequestStatus>(
  ["pending", "claimed", "awaiting_approval", "approved", "executing"]);

export function isOpen(r: Pick<FallbackRequest, "status">): boolean {
  return OPEN.has(r.status);
}

/** What a request asks, in words: "Close 40 of the EUR-USD long", "Cancel order … (buy)". */
export function describe(r: FallbackRequest): string {
  if (r.kind === "cancel_order") {
    return `Cancel ${r.side} ${r.known_qty} ${r.symbol}` +
      (r.known_price ? ` @ ${r.known_price}` : "");
  }
  return `Close ${r.qty ?? "all"}${r.qty ? ` of ${r.known_qty}` : ` (${r.known_qty})`} ${r.symbol} ${r.side}`;
}

/** The outcome in words: executed price and quantity, or the rejection's code and reason. */
export function outcome(r: FallbackRequest): string {
  if (r.status === "executed") {
    if (r.kind === "cancel_order") return "order canceled";
    if (!r.price) return "nothing left to close";
    const done = `${r.executed_qty ?? ""} at ${r.price}`.trim();
    return r.execution === "manual" ? `${done} (by the desk; booking ${r.booking})` : done;
  }
  if (r.status === "rejected") {
    return [r.reject_code, r.reject_reason].filter(Boolean).join(": ");
  }
  return "";
}

/** Merge fresh rows into a list by id (a row never goes back to an older version), newest
 * first. The times are fixed-width RFC 3339 text, so they compare as strings. */
export function mergeById<T extends { id: string; created_at: string; updated_at: string }>(
  list: T[], fresh: T[]): T[] {
  const byId = new Map(list.map((r) => [r.id, r]));
  for (const r of fresh) {
    const held = byId.get(r.id);
    if (!held || r.updated_at >= held.updated_at) byId.set(r.id, r);
  }
  return [...byId.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
}
