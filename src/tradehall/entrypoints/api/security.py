"""HTTP hardening: security headers, CORS by allow-list, per-IP rate limit, JSON depth limit.

`install(app, settings)` adds, outermost first:

- `SecurityHeaders`: on every HTTP response (successes, errors, refusals of the layers below):
  `X-Content-Type-Options`, `Referrer-Policy`, `Cross-Origin-Opener-Policy`,
  `Permissions-Policy`, `Content-Security-Policy` whose `frame-ancestors` is the configured
  allow-list (`'none'` by default, then also `X-Frame-Options: DENY`), and
  `Strict-Transport-Security` when a max-age is configured. The header list is built once.
- Starlette's `CORSMiddleware`, only when origins are configured (no CORS headers otherwise).
- `IpRateLimit`: the per-address bucket of `identity/ratelimit.py`, before routing or
  authentication, so floods and credential guessing are cut early (429 with Retry-After).
- `JsonDepthLimit`: a JSON body nested deeper than the limit is 400 `too_deeply_nested`
  before any parser sees it (Python's recursive parsers would otherwise spend time and stack
  on it). The check is two `bytes.count` calls for ordinary bodies.

The 64 KiB body limit stays `errors.BodyLimit` (inside these). Unexpected exceptions (500)
are answered by Starlette's outermost layer and carry no security headers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradehall.config import Settings
from tradehall.entrypoints.api.errors import MAX_BODY_BYTES, error_response
from tradehall.identity.mfa import OTP_HEADER
from tradehall.identity.signing import (
    KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from tradehall.kernel.errors import TooManyRequests

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

_ORIGIN = re.compile(r"'self'|https?://[A-Za-z0-9.*:\[\]-]+")
_DOCS_PREFIXES = ("/docs", "/redoc")
_PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                "base-uri 'none'; form-action 'self'")
# The interactive docs load Swagger UI / ReDoc from their CDN and start them inline.
_DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
                "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
                "https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com; "
                "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
                "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'")
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "APCA-API-KEY-ID",
                "APCA-API-SECRET-KEY", OTP_HEADER, KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER,
                SIGNATURE_HEADER)

Headers = list[tuple[bytes, bytes]]


def security_headers(settings: Settings, *, docs: bool = False) -> Headers:
    """The headers every response gets (the docs pages get a looser CSP for their CDN)."""
    ancestors = _checked_origins(settings.frame_ancestors, "TRADEHALL_FRAME_ANCESTORS")
    frame = "frame-ancestors " + (" ".join(ancestors) if ancestors else "'none'")
    policy = (_DOCS_POLICY if docs else _PAGE_POLICY) + "; " + frame
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        ("Content-Security-Policy", policy),
    ]
    if not ancestors:
        headers.append(("X-Frame-Options", "DENY"))
    if settings.hsts_max_age_s:
        headers.append(("Strict-Transport-Security",
                        f"max-age={settings.hsts_max_age_s}; includeSubDomains"))
    return [(k.lower().encode(), v.encode()) for k, v in headers]


def _checked_origins(origins: list[str], name: str) -> list[str]:
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{name}: {origin!r} is not 'self' or an http(s) origin")
    return origins


class SecurityHeaders:
    """Add the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._headers = security_headers(settings)
        self._docs_headers = security_headers(settings, docs=True)
        self._names = {name for name, _ in self._headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = (self._docs_headers if scope["path"].startswith(_DOCS_PREFIXES)
                 else self._headers)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = [h for h in message.get("headers", ()) if h[0].lower() not in self._names]
                message["headers"] = own + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


class IpRateLimit:
    """Count every HTTP request against its client address's bucket (429 when empty)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client:
            platform: Platform | None = getattr(scope["app"].state, "platform", None)
            if platform is not None:
                try:
                    await platform.auth.limits.check_ip(client[0])
                except TooManyRequests as exc:
                    response = error_response(429, exc.code, exc.message, headers={
                        "Retry-After": str(exc.retry_after_s)})
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def json_depth(body: bytes, limit: int) -> bool:
    """Return True when a JSON text nests arrays and objects at most `limit` deep."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return True
    brackets = _STRING.sub(b'""', body).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


class JsonDepthLimit:
    """Refuse a JSON request body nested deeper than the limit (400 `too_deeply_nested`)."""

    def __init__(self, app: ASGIApp, max_depth: int, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_depth = max_depth
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS") \
                or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        message: Message = {"type": "http.request", "body": b"", "more_body": True}
        while message.get("more_body", False):
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                # Answered here: FastAPI turns an error raised while it reads a body into 400.
                response = error_response(413, "body_too_large", "request bodies are limited "
                                          f"to {self.max_bytes} bytes")
                await response(scope, receive, send)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        if not json_depth(body, self.max_depth):
            response = error_response(400, "too_deeply_nested", "JSON bodies may nest arrays "
                                      f"and objects at most {self.max_depth} deep")
            await response(scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body,
                                        "more_body": False}], receive), send)


def _may_be_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return True  # FastAPI parses a body without a content type as JSON


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()
    return replayed


def install(app: FastAPI, settings: Settings) -> None:
    """Add the hardening layers to an app (call after the body limit is added)."""
    app.add_middleware(JsonDepthLimit, max_depth=settings.max_json_depth)
    app.add_middleware(IpRateLimit)
    origins = _checked_origins(settings.cors_allow_origins, "TRADEHALL_CORS_ALLOW_ORIGINS")
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins,
                           allow_credentials=settings.cors_allow_credentials,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=list(CORS_HEADERS), expose_headers=["Retry-After"],
                           max_age=600)
    app.add_middleware(SecurityHeaders, settings=settings)
