// Names for the API's shapes. REST shapes come from src/api/schema.d.ts, which is generated
// from the server's OpenAPI at build time (npm run gen); only the WebSocket messages, which
// OpenAPI does not describe, are declared here, built from the REST shapes they share.
import type { components, operations } from "./schema";

type S = components["schemas"];
type Ok<Op extends keyof operations> = operations[Op] extends {
  responses: { 200: { content: { "application/json": infer B } } };
}
  ? B
  : never;

export type Instrument = S["InstrumentPublic"];
export type Balance = S["BalancePublic"];
export type Order = S["OrderPublic"];
export type OrderCreate = S["OrderCreate"];
export type OrderUpdate = S["OrderUpdate"];
export type OrderPlaced = S["OrderPlaced"];
export type Fill = S["FillPublic"];
export type Position = S["PositionPublic"];
export type Token = S["TokenPublic"];
export type LoginRequest = S["LoginRequest"];
export type ErrorBody = S["ErrorBody"];
export type Page<T> = { data: T[]; next_cursor: string | null };

export type BookSnapshot = Ok<"book_v1_markets__symbol__book_get">;
export type Ticker = Ok<"ticker_v1_markets__symbol__ticker_get">;
export type Tickers = Ok<"tickers_v1_markets_tickers_get">;
export type Trades = Ok<"trades_v1_markets__symbol__trades_get">;
export type Trade = Trades["trades"][number];
export type Candles = Ok<"candles_v1_markets__symbol__candles_get">;
export type Candle = Candles["candles"][number];
export type Level = BookSnapshot["bids"][number];

// -- WebSocket messages (docs/api-marketdata.md) -------------------------------------------
export type BookDelta = Omit<BookSnapshot, "type"> & { type: "book_delta"; prev_seq: number };
export type CandleMessage = Candle & { type: "candle"; channel: string; symbol: string; interval: string };
export type ServerMessage =
  | BookSnapshot
  | BookDelta
  | Ticker
  | (Trades & { channel: string })
  | CandleMessage
  | { type: "orders"; updates: unknown[] }
  | { type: "fills"; fills: unknown[] }
  | { type: "balances"; balances: unknown[] }
  | { type: "ping"; ts: string }
  | { type: "pong"; ts: string }
  | { type: "subscribed" | "unsubscribed"; channels: string[]; id?: string | number }
  | { type: "authenticated"; username: string; id?: string | number }
  | { type: "error"; code: string; message: string; field: string | null; id?: string | number };

// -- Fallback and dealing desk (docs/api.md, "Fallback mode and the dealing desk") -----------
// Their request bodies, statuses and kinds are generated; the routes answer plain objects that
// OpenAPI leaves untyped, so the answers are declared here from the route's renderers
// (entrypoints/api/routers/fallback.py, desk.py), built on the generated shapes they embed.
export type RequestStatus = S["RequestStatus"];
export type RequestKind = S["RequestKind"];
export type FallbackRequestCreate = S["FallbackRequestCreate"];
export type RejectBody = S["RejectBody"];
export type ExecuteBody = S["ExecuteBody"];
export type BulkBody = S["BulkBody"];
export type ModeBody = S["ModeBody"];
export type PlatformMode = ModeBody["mode"];
export type Sla = "ok" | "warn" | "breach";

export interface ModeState {
  mode: PlatformMode;
  since: string | null;
  reason: string;
  automatic: boolean;
}
export type DeskMode = ModeState & { set_by: string | null };

export interface FallbackRequest {
  id: string;
  kind: RequestKind;
  symbol: string;
  order_id: string | null;
  side: string; // the order's side, or "long"/"short" for a close
  qty: string | null; // null: the whole position
  known_qty: string;
  known_price: string | null;
  notional: string;
  note: string;
  batch_id: string | null;
  status: RequestStatus;
  created_at: string;
  updated_at: string;
  claimed: boolean;
  execution: string | null;
  price: string | null;
  executed_qty: string | null;
  executed_at: string | null;
  booking: string;
  reject_code: string | null;
  reject_reason: string | null;
  engine_order_id: string | null;
}
export type DeskRequest = FallbackRequest & {
  account: string;
  user_id: string;
  username: string;
  claimed_by: string | null;
  claim_expires_at: string | null;
  decided_by: string | null;
  approved_by: string | null;
  version: number;
};
export type QueueItem = DeskRequest & { age_s: number; sla: Sla };
export interface KnownBalance {
  asset: string;
  available: string;
  held: string;
}
export interface FallbackSnapshot {
  account: string;
  as_of: string;
  projected_seq: string;
  mode: ModeState;
  orders: Order[];
  positions: Position[];
  balances: KnownBalance[];
  requests: FallbackRequest[];
}
export interface AccountContext {
  account: string;
  balances: KnownBalance[];
  orders: Order[];
  positions: Position[];
  requests: DeskRequest[];
}
export interface BulkOutcome {
  id: string;
  ok: boolean;
  code: string | null;
  message: string | null;
  request: DeskRequest | null;
}
