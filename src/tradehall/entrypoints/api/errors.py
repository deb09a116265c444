"""The one JSON error shape of the API and the mapping of the error tree to HTTP statuses.

Every error leaves as `{"code": "snake_case", "message": "...", "field": "..." | null}`.
`kernel/errors.py` names errors for the caller's reaction; this module alone turns them into
statuses: bad input and business refusals 422 (insufficient funds 403, as Alpaca answers),
unknown or foreign objects 404, conflicts 409, missing credentials 401, missing rights 403,
too many attempts 429 and an unavailable engine 503, both with Retry-After; a command stored in
the scale-out journal whose result did not come back in time 504 (`result_pending`: it will
execute, so the client reads it back rather than resends blindly). A database that does not
answer (refused or dropped connections, a timed-out pool, SQLite's lock) is 503
`database_unavailable` with Retry-After, not a 500: the request may be retried as it is. An
unexpected exception is logged and answers 500 without details; bad input never reaches that
branch.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradehall.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Rejected,
    TemporaryError,
    TooManyRequests,
    TradehallError,
    Unauthorized,
)

_log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
RETRY_AFTER_S = 1

# Codes whose status differs from their class's.
_STATUS_BY_CODE = {"insufficient_funds": 403, "result_pending": 504}
_STATUS_BY_CLASS: tuple[tuple[type[TradehallError], int], ...] = (
    (Unauthorized, 401), (Forbidden, 403), (NotFound, 404), (Conflict, 409),
    (TooManyRequests, 429), (TemporaryError, 503), (Rejected, 422),
)
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "rate_limited", 504: "result_pending"}


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    field: str | None = None


class ApiError(Exception):
    """An error a route raises with an explicit status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def status_of(error: TradehallError) -> int:
    """The HTTP status of an error of the tree."""
    by_code = _STATUS_BY_CODE.get(error.code)
    if by_code is not None:
        return by_code
    for kind, status in _STATUS_BY_CLASS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Build an error response in the one shape."""
    body = {"code": code, "message": message, "field": field}
    return JSONResponse(body, status_code=status, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting error statuses with the error shape."""
    return {s: {"model": ErrorBody, "description": _HTTP_CODES.get(s, "error")}
            for s in statuses}


def install(app: FastAPI) -> None:
    """Register the exception handlers and the body size limit on an app."""

    @app.exception_handler(TradehallError)
    async def _domain(_: Request, exc: TradehallError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            _log.error("unexpected domain error: %s", exc)
            return error_response(500, "internal_error", "internal error")
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after_s)}
        field = exc.field if isinstance(exc, InvalidInput) else None
        return error_response(status, exc.code, exc.message, field, headers)

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path",
                                                                  "header")]
        field = ".".join(loc) or None
        message = str(first.get("msg", "invalid request"))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return error_response(422, "invalid_field", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail),
                              headers=getattr(exc, "headers", None))

    for unavailable in (sa_exc.DBAPIError, sa_exc.TimeoutError, ConnectionError, TimeoutError):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not database_down(exc):
        return await _unexpected(request, exc)
    _log.warning("database unavailable: %s", exc.__class__.__name__)
    return error_response(503, "database_unavailable", "the database does not answer; retry "
                          "shortly", headers={"Retry-After": str(RETRY_AFTER_S)})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    _log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error")


def database_down(exc: BaseException) -> bool:
    """Whether an error says the database is out of reach (as opposed to a bug)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    # asyncpg raises the socket's own errors when it cannot connect at all.
    return isinstance(exc, ConnectionError | TimeoutError | sa_exc.TimeoutError)


class BodyLimit:
    """Refuse request bodies above a size with 413 before the route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES,
                 overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Exact paths with a limit of their own (uploads).
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope.get("path", ""), self.max_bytes)
        if limit != self.max_bytes:
            await BodyLimit(self.app, limit)(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit()
                                              or int(value) > self.max_bytes):
                await self._refuse(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ApiError(413, "body_too_large",
                                   f"request bodies are limited to {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "body_too_large",
                                  f"request bodies are limited to {self.max_bytes} bytes")
        await response(scope, receive, send)
