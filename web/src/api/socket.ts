// The WebSocket client: one connection to /v1/ws that re-authenticates and re-subscribes by
// itself after any drop (subscribing is stateless on the server), with a growing back-off.
// A watchdog closes a connection that stays silent past the server's 20 s heartbeat, so a dead
// link is noticed even when the browser does not report it.
import type { ServerMessage } from "./types";

export type SocketState = "connecting" | "open" | "closed";

const SILENCE_MS = 45_000;

export class MarketSocket {
  state: SocketState = "closed";
  private ws: WebSocket | null = null;
  private channels = new Set<string>();
  private token: string | null = null;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private lastMessage = 0;
  private stopped = true;

  constructor(
    private readonly url: string,
    private readonly onMessage: (msg: ServerMessage) => void,
    private readonly onState: (state: SocketState, reconnects: number) => void,
  ) {}

  reconnects = 0;

  start(): void {
    this.stopped = false;
    this.connect();
    this.watchdog ??= setInterval(() => {
      if (this.state === "open" && Date.now() - this.lastMessage > SILENCE_MS) this.ws?.close();
    }, 5_000);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.ws?.close();
    this.ws = null;
  }

  /** The token for this and every later connection; `now` authenticates the open one. */
  authenticate(token: string | null, now = true): void {
    this.token = token;
    if (token && now && this.state === "open") this.send({ type: "auth", token });
  }

  subscribe(channels: string[]): void {
    const fresh = channels.filter((c) => !this.channels.has(c));
    for (const c of channels) this.channels.add(c);
    if (fresh.length && this.state === "open") this.send({ type: "subscribe", channels: fresh });
  }

  /** Ask again for channels' current state (a book that missed a seq gets a new snapshot). */
  resubscribe(channels: string[]): void {
    if (this.state === "open") this.send({ type: "subscribe", channels });
  }

  unsubscribe(channels: string[]): void {
    const gone = channels.filter((c) => this.channels.delete(c));
    if (gone.length && this.state === "open") this.send({ type: "unsubscribe", channels: gone });
  }

  private connect(): void {
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.lastMessage = Date.now();
      this.setState("open");
      if (this.token) this.send({ type: "auth", token: this.token });
      const publicChannels = [...this.channels].filter((c) => c.includes("."));
      const privateChannels = [...this.channels].filter((c) => !c.includes("."));
      if (publicChannels.length) this.send({ type: "subscribe", channels: publicChannels });
      if (privateChannels.length && this.token) {
        this.send({ type: "subscribe", channels: privateChannels });
      }
    };
    ws.onmessage = (event: MessageEvent<string>) => {
      this.lastMessage = Date.now();
      let msg: ServerMessage;
      try {
        msg = JSON.parse(event.data) as ServerMessage;
      } catch {
        return;
      }
      if (msg.type === "ping") this.send({ type: "pong" });
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState("closed");
      if (!this.stopped) this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    const delay = Math.min(5_000, 250 * 2 ** this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.reconnects += 1;
      this.connect();
    }, delay);
  }

  private setState(state: SocketState): void {
    this.state = state;
    this.onState(state, this.reconnects);
  }

  private send(message: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }
}
