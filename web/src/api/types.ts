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
export type RequestStatus = S["RequestStatus"];
export type RequestKind = S["RequestKind"];
export type FallbackRequestCreate = S["FallbackRequestCreate"];
export type RejectBody = S["RejectBody"];
export type ExecuteBody = S["ExecuteBody"];
export type BulkBody = S["BulkBody"];
export type ModeBody = S["ModeBody"];
export type PlatformMode = ModeBody["mode"];
export type ModeState = S["ModePublic"];
export type DeskMode = S["DeskModePublic"];
export type FallbackRequest = S["FallbackRequestPublic"];
export type DeskRequest = S["DeskRequestPublic"];
export type QueueItem = S["QueueItemPublic"];
export type Sla = QueueItem["sla"];
export type KnownBalance = S["KnownBalance"];
export type FallbackSnapshot = S["FallbackSnapshotPublic"];
export type AccountContext = S["AccountContextPublic"];
export type BulkOutcome = S["BulkOutcomePublic"];
