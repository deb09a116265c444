// A login session for the light pages (fallback, desk): no WebSocket, no market data. The
// access token lives in memory and in sessionStorage under the page's own key (gone with the
// tab); the refresh token stays in its HttpOnly cookie, renewed shortly before expiry and on
// a 401. Each page makes one, so the trading app's store never loads with them.
import { reactive } from "vue";
import { post, setToken, setUnauthorizedHandler } from "../api/http";
import type { Token } from "../api/types";

export interface PageSession {
  access_token: string;
  username: string;
  account: string;
  roles: string[];
  expires_at_ms: number;
}

export interface SessionHandle {
  state: { session: PageSession | null };
  login(username: string, password: string, totp?: string): Promise<void>;
  logout(): Promise<void>;
  restore(): Promise<boolean>;
}

export function createSession(key: string, onChange: (s: PageSession | null) => void): SessionHandle {
  const state = reactive({ session: null as PageSession | null });
  let timer: ReturnType<typeof setTimeout> | null = null;
  let renewing: Promise<boolean> | null = null;

  function start(token: Token): void {
    const session: PageSession = {
      access_token: token.access_token, username: token.username, account: token.account,
      roles: token.roles, expires_at_ms: Date.now() + token.expires_in * 1000,
    };
    adopt(session);
  }

  function adopt(session: PageSession): void {
    const first = state.session === null || state.session.username !== session.username;
    state.session = session;
    setToken(session.access_token);
    sessionStorage.setItem(key, JSON.stringify(session));
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void renew(), Math.max(5_000, session.expires_at_ms - Date.now() - 30_000));
    if (first) onChange(session);
  }

  function end(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    const had = state.session !== null;
    state.session = null;
    setToken(null);
    sessionStorage.removeItem(key);
    if (had) onChange(null);
  }

  async function renew(): Promise<boolean> {
    try {
      start(await post<Token>("/v1/auth/refresh", { cookie: true }));
      return true;
    } catch {
      end();
      return false;
    }
  }

  setUnauthorizedHandler(() => {
    renewing ??= renew().finally(() => {
      renewing = null;
    });
  });

  return {
    state,
    async login(username, password, totp) {
      const body = { username, password, cookie: true, ...(totp ? { totp_code: totp } : {}) };
      start(await post<Token>("/v1/auth/login", body));
    },
    async logout() {
      try {
        await post<unknown>("/v1/auth/logout", {});
      } catch {
        // The session may be gone already; the page forgets it either way.
      }
      end();
    },
    async restore() {
      const saved = sessionStorage.getItem(key);
      if (!saved) return false;
      try {
        const session = JSON.parse(saved) as PageSession;
        if (session.expires_at_ms > Date.now() + 5_000) {
          adopt(session);
          return true;
        }
        return await renew();
      } catch {
        sessionStorage.removeItem(key);
        return false;
      }
    },
  };
}
