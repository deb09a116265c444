// The fallback page's state: the platform mode (public), the session, the last-known
// snapshot, and the user's requests kept live by polling `updated_after`: every 2 s while one
// is open, every 15 s otherwise, never while the tab is hidden (docs/operations.md counts on
// these rates when it sizes the fallback service).
// Every filing carries an Idempotency-Key per user action, kept for a retry of that action.
import { reactive } from "vue";
import { ApiError, del, get, request, retryable } from "../api/http";
import type {
  FallbackRequest,
  FallbackRequestCreate,
  FallbackSnapshot,
  Instrument,
  ModeState,
} from "../api/types";
import { ActionKeys, isOpen, mergeById, toNanos } from "../lib/requests";
import { createSession, type PageSession } from "../lib/session";

const POLL_MS = 2_000;
const IDLE_POLL_MS = 15_000;
const STATUS_MS = 5_000;
const SNAPSHOT_MS = 60_000;
// Each poll reaches back this far before the newest update seen: a change committed a moment
// after a later-stamped one is still picked up (merging by id makes the overlap harmless).
const OVERLAP_NS = 5_000_000_000n;

export const state = reactive({
  mode: null as ModeState | null,
  snapshot: null as FallbackSnapshot | null,
  requests: [] as FallbackRequest[],
  instruments: [] as Instrument[],
  error: "",
  polls: 0,
});

export const session = createSession("tradehall.fallback.session", (s) => void onSession(s));
const keys = new ActionKeys();
let cursor: bigint | null = null;
let lastPoll = 0;

function hidden(): boolean {
  return typeof document !== "undefined" && document.visibilityState === "hidden";
}
let pollTimer: ReturnType<typeof setInterval> | null = null;
let snapshotTimer: ReturnType<typeof setInterval> | null = null;

export function instrument(symbol: string): Instrument | undefined {
  return state.instruments.find((i) => i.symbol === symbol);
}

/** The open request on an order or a position, if any (one per target). */
export function openRequestFor(target: { order_id?: string; symbol?: string }): FallbackRequest | undefined {
  return state.requests.find((r) => isOpen(r) && (target.order_id
    ? r.kind === "cancel_order" && r.order_id === target.order_id
    : r.kind === "close_position" && r.symbol === target.symbol));
}

export async function boot(): Promise<void> {
  void refreshMode();
  setInterval(() => void refreshMode(), STATUS_MS);
  void loadInstruments();
  await session.restore();
}

async function loadInstruments(): Promise<void> {
  try {
    state.instruments = (await get<{ data: Instrument[] }>("/v1/instruments")).data;
  } catch {
    // The grid checks wait for them; the server checks every quantity anyway.
  }
}

async function refreshMode(): Promise<void> {
  if (hidden()) return;
  try {
    state.mode = await get<ModeState>("/v1/fallback/status");
  } catch {
    // Keep the last known mode; the next tick tries again.
  }
}

async function onSession(s: PageSession | null): Promise<void> {
  if (pollTimer) clearInterval(pollTimer);
  if (snapshotTimer) clearInterval(snapshotTimer);
  pollTimer = snapshotTimer = null;
  state.snapshot = null;
  state.requests = [];
  cursor = null;
  if (!s) return;
  await Promise.all([loadSnapshot(), loadRequests()]);
  pollTimer = setInterval(() => void pollRequests(), POLL_MS);
  snapshotTimer = setInterval(() => { if (!hidden()) void loadSnapshot(); }, SNAPSHOT_MS);
}

export async function loadSnapshot(): Promise<void> {
  try {
    const snap = await get<FallbackSnapshot>("/v1/fallback/snapshot");
    state.snapshot = snap;
    state.mode = snap.mode;
  } catch (err) {
    if (err instanceof ApiError && err.status !== 401) state.error = err.text;
  }
}

function advance(found: FallbackRequest[]): void {
  for (const r of found) {
    const ns = toNanos(r.updated_at);
    if (ns !== null && (cursor === null || ns > cursor)) cursor = ns;
  }
}

function since(ns: bigint): bigint {
  return ns > OVERLAP_NS ? ns - OVERLAP_NS : 0n;
}

async function loadRequests(): Promise<void> {
  const found = (await get<{ requests: FallbackRequest[] }>("/v1/fallback/requests?limit=200")).requests;
  state.requests = mergeById([], found);
  advance(found);
  if (cursor === null) cursor = 0n;
}

/** What changed since the newest update seen; a request that reached its end re-reads the
 * snapshot, since an executed close or cancel changed the account. */
export async function pollRequests(): Promise<void> {
  if (!session.state.session || cursor === null || hidden()) return;
  const idle = !state.requests.some(isOpen);
  if (idle && Date.now() - lastPoll < IDLE_POLL_MS) return;
  lastPoll = Date.now();
  try {
    const found = (await get<{ requests: FallbackRequest[] }>(
      `/v1/fallback/requests?updated_after=${since(cursor)}&limit=500`)).requests;
    state.polls += 1;
    if (!found.length) return;
    const before = new Map(state.requests.map((r) => [r.id, r.status]));
    state.requests = mergeById(state.requests, found);
    advance(found);
    if (found.some((r) => r.status === "executed" && before.get(r.id) !== "executed")) {
      void loadSnapshot();
    }
  } catch {
    // Polling goes on; a 401 has renewed or ended the session already.
  }
}

/** File a request; the same action (same body) tried again reuses its Idempotency-Key. */
export async function file(body: FallbackRequestCreate): Promise<FallbackRequest[]> {
  const action = JSON.stringify(body);
  const key = keys.keyFor(action);
  for (let attempt = 0; ; attempt += 1) {
    try {
      const filed = (await request<{ requests: FallbackRequest[] }>(
        "POST", "/v1/fallback/requests", body, { "Idempotency-Key": key })).requests;
      keys.done(action);
      state.requests = mergeById(state.requests, filed); // the cursor moves only by polls
      return filed;
    } catch (err) {
      if (!retryable(err)) keys.done(action);
      if (!retryable(err) || attempt >= 2) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
    }
  }
}

export async function withdraw(id: string): Promise<void> {
  const r = await del<FallbackRequest>(`/v1/fallback/requests/${encodeURIComponent(id)}`);
  state.requests = mergeById(state.requests, [r]);
}

/** Test and debugging hook, read by the browser tests. */
declare global {
  interface Window {
    tradehallFallback?: { state: typeof state; session: typeof session };
  }
}
window.tradehallFallback = { state, session };
