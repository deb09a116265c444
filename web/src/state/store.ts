// The app's state in one reactive store: session, reference data, the selected market's live
// data (book, trades, candles, tickers) and the account (orders, fills, positions, balances).
// Market data arrives over the WebSocket; account lists are re-read over REST whenever a
// private update says they changed (the read models answer read-your-writes).
import { reactive } from "vue";
import { del, get, patch, post, setToken, setUnauthorizedHandler } from "../api/http";
import { MarketSocket, type SocketState } from "../api/socket";
import type {
  Balance,
  BookDelta,
  Candle,
  CandleMessage,
  Candles,
  Fill,
  Instrument,
  Level,
  Order,
  OrderCreate,
  OrderPlaced,
  Page,
  Position,
  ServerMessage,
  Ticker,
  Tickers,
  Token,
  Trade,
  Trades,
} from "../api/types";
import { compare, parse } from "../lib/decimal";

export type Interval = "1m" | "5m" | "15m" | "1h";
type List<T> = { data: T[] };
const TOKEN_KEY = "tradehall.session";
const PRIVATE = ["orders", "fills", "balances"];

export interface BookView {
  symbol: string;
  seq: number;
  bids: Level[];
  asks: Level[];
  valid: boolean; // false while re-fetching after a missed seq: never shown wrong
  resyncs: number;
}

export const store = reactive({
  session: null as Session | null,
  instruments: [] as Instrument[],
  tickers: {} as Record<string, Ticker>,
  symbol: "",
  interval: "1m" as Interval,
  book: { symbol: "", seq: 0, bids: [], asks: [], valid: false, resyncs: 0 } as BookView,
  trades: [] as Trade[],
  candles: [] as Candle[],
  candleVersion: 0,
  lastCandle: null as Candle | null,
  connection: "closed" as SocketState,
  reconnects: 0,
  openOrders: [] as Order[],
  history: [] as Order[],
  fills: [] as Fill[],
  positions: [] as Position[],
  balances: [] as Balance[],
  accountError: "",
  ticketPrice: "",
});

const socket = new MarketSocket(
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`,
  onMessage,
  (state, reconnects) => {
    store.connection = state;
    store.reconnects = reconnects;
    if (state !== "open") store.book.valid = false;
    if (state === "open" && store.session) scheduleAccountRefresh();
    if (state === "open" && reconnects > 0 && store.symbol) void reloadMarket();
  },
);

export function instrument(symbol = store.symbol): Instrument | undefined {
  return store.instruments.find((i) => i.symbol === symbol);
}

// -- Session ------------------------------------------------------------------------------
// The access token lives in memory and in sessionStorage (short-lived; gone with the tab).
// The refresh token never reaches script: login asks for it as an HttpOnly cookie on
// /v1/auth, and the app refreshes through that cookie shortly before the access token expires.

export interface Session {
  access_token: string;
  username: string;
  account: string;
  roles: string[];
  expires_at_ms: number;
}

let renewTimer: ReturnType<typeof setTimeout> | null = null;

export async function login(username: string, password: string, totp?: string): Promise<void> {
  const body = { username, password, cookie: true, ...(totp ? { totp_code: totp } : {}) };
  startSession(toSession(await post<Token>("/v1/auth/login", body)));
}

function toSession(token: Token): Session {
  return { access_token: token.access_token, username: token.username, account: token.account,
           roles: token.roles, expires_at_ms: Date.now() + token.expires_in * 1000 };
}

function startSession(session: Session): void {
  const first = store.session === null;
  store.session = session;
  setToken(session.access_token);
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
  socket.authenticate(session.access_token, first);
  if (first) {
    socket.subscribe(PRIVATE);
    void refreshAccount();
  }
  if (renewTimer) clearTimeout(renewTimer);
  const inMs = Math.max(5_000, session.expires_at_ms - Date.now() - 30_000);
  renewTimer = setTimeout(() => void renew(), inMs);
}

/** New tokens from the refresh cookie; false when the session is over. */
async function renew(): Promise<boolean> {
  try {
    startSession(toSession(await post<Token>("/v1/auth/refresh", { cookie: true })));
    return true;
  } catch {
    endSession();
    return false;
  }
}

function endSession(): void {
  if (renewTimer) clearTimeout(renewTimer);
  renewTimer = null;
  store.session = null;
  setToken(null);
  sessionStorage.removeItem(TOKEN_KEY);
  socket.unsubscribe(PRIVATE);
  socket.stop();
  socket.authenticate(null, false);
  socket.start(); // a fresh, anonymous connection: market data only
}

export async function logout(): Promise<void> {
  try {
    await post<unknown>("/v1/auth/logout", {});
  } catch {
    // The session may be gone already; the page forgets it either way.
  }
  endSession();
}

let renewing: Promise<boolean> | null = null;
setUnauthorizedHandler(() => {
  renewing ??= renew().finally(() => {
    renewing = null;
  });
});

export async function boot(): Promise<void> {
  socket.start();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    try {
      const session = JSON.parse(saved) as Session;
      if (session.expires_at_ms > Date.now() + 5_000) startSession(session);
      else {
        store.session = session;
        if (await renew()) void refreshAccount();
      }
    } catch {
      sessionStorage.removeItem(TOKEN_KEY);
    }
  }
  const [instruments, tickers] = await Promise.all([
    get<List<Instrument>>("/v1/instruments"),
    get<Tickers>("/v1/markets/tickers"),
  ]);
  store.instruments = instruments.data;
  for (const t of tickers.data) store.tickers[t.symbol] = t;
  socket.subscribe(store.instruments.map((i) => `ticker.${i.symbol}`));
  const wanted = new URLSearchParams(location.search).get("symbol");
  const first = instruments.data.find((i) => i.symbol === wanted) ?? instruments.data[0];
  if (first) await selectSymbol(first.symbol);
}

// -- Market data --------------------------------------------------------------------------

function marketChannels(symbol: string, interval: Interval): string[] {
  return [`book.${symbol}`, `trades.${symbol}`, `candles.${interval}.${symbol}`];
}

export async function selectSymbol(symbol: string): Promise<void> {
  if (store.symbol) socket.unsubscribe(marketChannels(store.symbol, store.interval));
  store.symbol = symbol;
  store.book = { symbol, seq: 0, bids: [], asks: [], valid: false, resyncs: 0 };
  store.trades = [];
  store.ticketPrice = "";
  await loadCandles();
  socket.subscribe(marketChannels(symbol, store.interval));
  const trades = await get<Trades>(`/v1/markets/${encodeURIComponent(symbol)}/trades?limit=50`);
  if (store.symbol === symbol && store.trades.length === 0) store.trades = trades.trades;
}

export async function selectInterval(interval: Interval): Promise<void> {
  socket.unsubscribe([`candles.${store.interval}.${store.symbol}`]);
  store.interval = interval;
  await loadCandles();
  socket.subscribe([`candles.${interval}.${store.symbol}`]);
}

/** After a reconnect: what happened meanwhile (the book comes back as a snapshot). */
async function reloadMarket(): Promise<void> {
  const symbol = store.symbol;
  await loadCandles();
  const trades = await get<Trades>(`/v1/markets/${encodeURIComponent(symbol)}/trades?limit=50`);
  if (store.symbol === symbol) store.trades = trades.trades;
}

async function loadCandles(): Promise<void> {
  const { symbol, interval } = store;
  const path = `/v1/markets/${encodeURIComponent(symbol)}/candles?interval=${interval}&limit=300`;
  const data = await get<Candles>(path);
  if (store.symbol !== symbol || store.interval !== interval) return;
  store.candles = data.candles;
  store.lastCandle = null;
  store.candleVersion += 1;
}

function onMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case "book_snapshot":
      if (msg.symbol === store.symbol) {
        store.book = { symbol: msg.symbol, seq: msg.seq, bids: msg.bids, asks: msg.asks,
                       valid: true, resyncs: store.book.resyncs };
      }
      break;
    case "book_delta":
      if (msg.symbol === store.symbol) applyDelta(msg);
      break;
    case "trades":
      if (msg.symbol === store.symbol) {
        store.trades = [...[...msg.trades].reverse(), ...store.trades].slice(0, 100);
      }
      break;
    case "ticker":
      store.tickers[msg.symbol] = msg;
      break;
    case "candle":
      onCandle(msg);
      break;
    case "orders":
    case "fills":
    case "balances":
      scheduleAccountRefresh();
      break;
    case "error":
      // A reconnect that presented an expired token: renew it, then authenticate again.
      if ((msg.code === "token_expired" || msg.code === "invalid_token") && store.session) {
        void renew().then((ok) => {
          if (!ok || !store.session) return;
          socket.authenticate(store.session.access_token);
          socket.resubscribe(PRIVATE);
        });
      }
      break;
    default:
      break;
  }
}

export function applyDelta(delta: BookDelta): void {
  const book = store.book;
  if (!book.valid) return; // waiting for the snapshot that the re-subscribe brings
  if (delta.prev_seq !== book.seq) {
    // A missed delta: drop the view and ask for a fresh snapshot rather than show it wrong.
    book.valid = false;
    book.resyncs += 1;
    socket.resubscribe([`book.${book.symbol}`]);
    return;
  }
  book.bids = merge(book.bids, delta.bids, -1);
  book.asks = merge(book.asks, delta.asks, 1);
  book.seq = delta.seq;
}

function merge(levels: Level[], changes: Level[], direction: 1 | -1): Level[] {
  const byPrice = new Map(levels.map((l) => [l[0], l]));
  for (const change of changes) {
    if (parse(change[1])?.units === 0n) byPrice.delete(change[0]);
    else byPrice.set(change[0], change);
  }
  return [...byPrice.values()].sort((a, b) => direction * compare(parse(a[0])!, parse(b[0])!));
}

function onCandle(msg: CandleMessage): void {
  if (msg.symbol !== store.symbol || msg.interval !== store.interval) return;
  const candle: Candle = { start: msg.start, open: msg.open, high: msg.high, low: msg.low,
                           close: msg.close, volume: msg.volume, trades: msg.trades };
  store.lastCandle = candle;
}

// -- Account ------------------------------------------------------------------------------

let refreshTimer: ReturnType<typeof setTimeout> | null = null;

export function scheduleAccountRefresh(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void refreshAccount();
  }, 150);
}

export async function refreshAccount(): Promise<void> {
  if (!store.session) return;
  try {
    const [open, closed, fills, positions, balances] = await Promise.all([
      get<Page<Order>>("/v1/orders?status=open&limit=200"),
      get<Page<Order>>("/v1/orders?status=closed&limit=100"),
      get<Page<Fill>>("/v1/fills?limit=100"),
      get<List<Position>>("/v1/positions"),
      get<List<Balance>>("/v1/balances"),
    ]);
    store.openOrders = open.data;
    store.history = closed.data;
    store.fills = fills.data;
    store.positions = positions.data;
    store.balances = balances.data;
    store.accountError = "";
  } catch (err) {
    store.accountError = err instanceof Error ? err.message : String(err);
  }
}

export async function placeOrder(body: OrderCreate): Promise<OrderPlaced> {
  const placed = await post<OrderPlaced>("/v1/orders", body);
  await refreshAccount();
  return placed;
}

export async function cancelOrder(id: string): Promise<void> {
  await del<Order>(`/v1/orders/${encodeURIComponent(id)}`);
  await refreshAccount();
}

export async function amendOrder(id: string, change: { qty?: string; price?: string }) {
  await patch<Order>(`/v1/orders/${encodeURIComponent(id)}`, change);
  await refreshAccount();
}

export async function closePosition(symbol: string): Promise<void> {
  await post<OrderPlaced>(`/v1/positions/${encodeURIComponent(symbol)}/close`, {});
  await refreshAccount();
}

/** Test and debugging hook: the page's live state, read by the browser tests. */
declare global {
  interface Window {
    tradehall?: { store: typeof store; socket: MarketSocket };
  }
}
window.tradehall = { store, socket };
