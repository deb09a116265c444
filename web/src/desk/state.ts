// The dealing desk's state: the session (dealer role), the queue with its filters and sort
// polled every 2 s, the summary counts, the platform mode, the selected request with its
// account's context, and the checked rows for bulk decisions.
import { reactive } from "vue";
import { ApiError, get, post, put } from "../api/http";
import type {
  AccountContext,
  BulkBody,
  BulkOutcome,
  DeskMode,
  DeskRequest,
  ExecuteBody,
  Instrument,
  PlatformMode,
  QueueItem,
  RejectBody,
  RequestKind,
  RequestStatus,
} from "../api/types";
import { createSession, type PageSession } from "../lib/session";

const POLL_MS = 2_000;
export type SortKey = "created" | "notional" | "symbol" | "updated";

export const filters = reactive({
  status: "" as "" | RequestStatus,
  kind: "" as "" | RequestKind,
  symbol: "",
  account: "",
  username: "",
  minAge: "",
  minNotional: "",
  sort: "created" as SortKey,
  desc: false,
});

export const state = reactive({
  queue: [] as QueueItem[],
  fetchedAtMs: 0,
  nowMs: Date.now(),
  summary: {} as Record<string, number>,
  mode: null as DeskMode | null,
  selectedId: "",
  selected: null as QueueItem | null,
  context: null as AccountContext | null,
  checked: [] as string[],
  forbidden: "",
  queueError: "",
  polls: 0,
  instruments: [] as Instrument[],
});

export function instrument(symbol: string): Instrument | undefined {
  return state.instruments.find((i) => i.symbol === symbol);
}

// Each request's age runs from an anchor (the server's age_s at some moment), moved only when
// the server's whole seconds disagree with the running estimate: the timer never jumps back.
const anchors = new Map<string, { base: number; atMs: number }>();

function anchor(items: QueueItem[], nowMs: number): void {
  const shown = new Set<string>();
  for (const item of items) {
    shown.add(item.id);
    const held = anchors.get(item.id);
    const estimate = held ? held.base + (nowMs - held.atMs) / 1000 : null;
    if (estimate === null || estimate < item.age_s || estimate > item.age_s + 1.5) {
      anchors.set(item.id, { base: item.age_s + 0.5, atMs: nowMs });
    }
  }
  for (const id of anchors.keys()) if (!shown.has(id)) anchors.delete(id);
}

export const session = createSession("tradehall.desk.session", (s) => void onSession(s));
let pollTimer: ReturnType<typeof setInterval> | null = null;

export async function boot(): Promise<void> {
  setInterval(() => {
    state.nowMs = Date.now();
  }, 1_000);
  await session.restore();
}

async function onSession(s: PageSession | null): Promise<void> {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
  Object.assign(state, { queue: [], summary: {}, mode: null, selectedId: "", selected: null,
                         context: null, checked: [], forbidden: "", queueError: "" });
  if (!s) return;
  void get<{ data: Instrument[] }>("/v1/instruments").then((found) => {
    state.instruments = found.data;
  }).catch(() => undefined); // the price check waits for them; the server checks anyway
  await refresh();
  if (!state.forbidden) pollTimer = setInterval(() => void refresh(), POLL_MS);
}

/** The age of a queued request now, in seconds, running between polls. */
export function ageNow(item: QueueItem): number {
  const held = anchors.get(item.id);
  const since = held ? held.base + (state.nowMs - held.atMs) / 1000 : item.age_s;
  return Math.max(item.age_s, since);
}

export function queuePath(): string {
  const q = new URLSearchParams();
  if (filters.status) q.append("status", filters.status);
  if (filters.kind) q.set("kind", filters.kind);
  if (filters.symbol.trim()) q.set("symbol", filters.symbol.trim().toUpperCase());
  if (filters.account.trim()) q.set("account", filters.account.trim());
  if (filters.username.trim()) q.set("username", filters.username.trim());
  if (filters.minAge.trim()) q.set("min_age_s", filters.minAge.trim());
  if (filters.minNotional.trim()) q.set("min_notional", filters.minNotional.trim());
  q.set("sort", filters.sort);
  if (filters.desc) q.set("desc", "true");
  q.set("limit", "200");
  return `/v1/desk/queue?${q.toString()}`;
}

/** One poll: the queue, the counts, the mode and the selected account's context. */
export async function refresh(): Promise<void> {
  if (!session.state.session) return;
  try {
    const [queue, summary, mode] = await Promise.all([
      get<{ requests: QueueItem[] }>(queuePath()),
      get<{ open: Record<string, number> }>("/v1/desk/summary"),
      get<DeskMode>("/v1/desk/mode"),
    ]);
    state.fetchedAtMs = Date.now();
    anchor(queue.requests, state.fetchedAtMs);
    state.queue = queue.requests;
    state.nowMs = state.fetchedAtMs;
    state.summary = summary.open;
    state.mode = mode;
    state.queueError = "";
    state.polls += 1;
    const shown = new Set(queue.requests.map((r) => r.id));
    state.checked = state.checked.filter((id) => shown.has(id));
    if (state.selectedId) await loadSelected();
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      state.forbidden = err.text;
      if (pollTimer) clearInterval(pollTimer);
      pollTimer = null;
    } else if (err instanceof ApiError) {
      state.queueError = err.text;
    }
  }
}

export async function select(id: string): Promise<void> {
  state.selectedId = id;
  state.selected = state.queue.find((r) => r.id === id) ?? null;
  state.context = null;
  await loadSelected();
}

async function loadSelected(): Promise<void> {
  const id = state.selectedId;
  const item = await get<QueueItem>(`/v1/desk/requests/${encodeURIComponent(id)}`);
  if (state.selectedId !== id) return;
  state.selected = item;
  const context = await get<AccountContext>(`/v1/desk/accounts/${encodeURIComponent(item.account)}`);
  if (state.selectedId === id) state.context = context;
}

export type Action = "claim" | "release" | "execute" | "approve";

export async function act(id: string, action: Action): Promise<DeskRequest> {
  const r = await post<DeskRequest>(`/v1/desk/requests/${encodeURIComponent(id)}/${action}`, {});
  await refresh();
  return r;
}

/** Execute a close manually at a dealer-given price (executed now, booked later). */
export async function executeAt(id: string, price: string): Promise<DeskRequest> {
  const body: ExecuteBody = { price };
  const r = await post<DeskRequest>(`/v1/desk/requests/${encodeURIComponent(id)}/execute`, body);
  await refresh();
  return r;
}

export async function reject(id: string, body: RejectBody): Promise<DeskRequest> {
  const r = await post<DeskRequest>(`/v1/desk/requests/${encodeURIComponent(id)}/reject`, body);
  await refresh();
  return r;
}

export async function bulk(body: BulkBody): Promise<BulkOutcome[]> {
  const answer = await post<{ results: BulkOutcome[] }>("/v1/desk/bulk", body);
  state.checked = [];
  await refresh();
  return answer.results;
}

export async function setMode(mode: PlatformMode, reason: string): Promise<DeskMode> {
  const changed = await put<DeskMode>("/v1/desk/mode", { mode, reason });
  state.mode = changed;
  await refresh();
  return changed;
}

/** Test and debugging hook, read by the browser tests. */
declare global {
  interface Window {
    tradehallDesk?: { state: typeof state; filters: typeof filters; session: typeof session };
  }
}
window.tradehallDesk = { state, filters, session };
