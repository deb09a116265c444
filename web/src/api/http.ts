// A small fetch wrapper: JSON in and out, the bearer token on every call, and the server's
// error shape ({code, message, field}) kept whole so the UI can show exactly what it said.
import type { ErrorBody } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }

  /** The server's words as the ticket shows them: "too_many_decimals: price: ...". */
  get text(): string {
    return `${this.code}: ${this.message}`;
  }
}

let token: string | null = null;
let onUnauthorized: (() => void) | null = null;

export function setToken(value: string | null): void {
  token = value;
}

export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export async function request<T>(method: string, path: string, body?: unknown,
                                 extra: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...extra };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network_error", "the server cannot be reached");
  }
  const text = await response.text();
  const data: unknown = text ? safeJson(text) : null;
  if (!response.ok) {
    const err = (data ?? {}) as Partial<ErrorBody>;
    if (response.status === 401 && token && !path.startsWith("/v1/auth/")) onUnauthorized?.();
    throw new ApiError(
      response.status,
      err.code ?? `http_${response.status}`,
      err.message ?? response.statusText,
      err.field ?? null,
    );
  }
  return data as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export const get = <T>(path: string) => request<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {});
export const patch = <T>(path: string, body: unknown) => request<T>("PATCH", path, body);
export const del = <T>(path: string) => request<T>("DELETE", path);
export const put = <T>(path: string, body: unknown) => request<T>("PUT", path, body);

/** True when the same call may be sent again (no answer, or the server failed): a retry
 * of an action keeps its Idempotency-Key so the server files it at most once. */
export function retryable(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 0 || err.status >= 500);
}
