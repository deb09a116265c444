"""Shared by the native routers: read-your-writes, per-object ownership, opaque cursors, paging.

Ownership is checked here once: an order that belongs to another account answers exactly like
one that does not exist (`order_not_found`, 404), so ids reveal nothing. Cursors are opaque
base64url tokens over a keyset (for orders: creation time and engine id; for fills: seq, trade
id and liquidity) bound to the filters they were made with; paging by keyset keeps pages stable
while new rows arrive. No engine access, no writes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import msgspec
from fastapi import APIRouter
from fastapi.routing import APIRoute

from tradehall.kernel.errors import InvalidInput, NotFound
from tradehall.service.ports import OrderRecord

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform
    from tradehall.service.auth import Principal

_T = TypeVar("_T")
Key = tuple[int, ...]
MAX_LIMIT = 500
# The most rows one page may read to get past rows that share their first key (same ns/seq).
_MAX_FETCH = 16_384
_CURSOR_VERSION = 1
_cursor_encoder = msgspec.msgpack.Encoder()
_cursor_decoder = msgspec.msgpack.Decoder(tuple[int, str, list[int]])


async def caught_up(platform: Platform, seq: int | None = None) -> None:
    """Wait (briefly) until the read models include `seq`, by default the last published one."""
    target = platform.bus.last_seq if seq is None else seq
    read_model = platform.read_model
    if read_model.last_seq < target:
        await read_model.wait_for(target)


async def owned_order(platform: Platform, principal: Principal, order_id: str) -> OrderRecord:
    """Return the caller's order by UUID; NotFound when unknown or someone else's."""
    if len(order_id) > 64:
        raise NotFound(f"no order {order_id[:64]}", code="order_not_found")
    await caught_up(platform)
    record = await platform.read_model.get_order(order_id)
    if record is None or record.account != principal.account:
        raise NotFound(f"no order {order_id}", code="order_not_found")
    return record


# -- Cursors ------------------------------------------------------------------------------------


def encode_cursor(scope: str, key: Key) -> str:
    """Make an opaque cursor for the row after which the next page starts."""
    raw = _cursor_encoder.encode((_CURSOR_VERSION, scope, list(key)))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(scope: str, cursor: str | None, width: int) -> Key | None:
    """Read a cursor made by `encode_cursor` with the same scope; InvalidInput otherwise."""
    if cursor is None or cursor == "":
        return None
    try:
        if len(cursor) > 256:
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, made_for, key = _cursor_decoder.decode(raw)
    except (ValueError, binascii.Error, msgspec.DecodeError, UnicodeEncodeError):
        raise InvalidInput("cursor", "is not a cursor this API gave out",
                           code="invalid_cursor") from None
    if version != _CURSOR_VERSION or len(key) != width:
        raise InvalidInput("cursor", "is not a cursor this API gave out", code="invalid_cursor")
    if made_for != scope:
        raise InvalidInput("cursor", "was made for other filters; start again without it",
                           code="invalid_cursor")
    return tuple(key)


def cursor_scope(kind: str, *filters: object) -> str:
    """Name the query a cursor belongs to (the resource and its filters)."""
    return "|".join([kind, *("" if f is None else str(f) for f in filters)])


# -- Keyset paging ------------------------------------------------------------------------------


async def keyset_page(fetch: Callable[[int], Awaitable[Sequence[_T]]], key: Callable[[_T], Key],
                      limit: int, after: Key | None) -> tuple[list[_T], Key | None]:
    """One page, newest first, of rows strictly after `after`; and the next page's cursor key.

    `fetch(n)` returns the newest `n` rows whose first key is at most the cursor's (the store
    bounds only the first key). Rows sharing the first key of the oldest row fetched may be
    cut off arbitrarily by the store, so they are set aside unless the store had no more;
    when that leaves too few rows, fetch more.
    """
    n = limit + 1
    while True:
        rows = list(await fetch(n))
        exhausted = len(rows) < n
        if not exhausted and n < _MAX_FETCH:
            edge = min(key(r)[0] for r in rows)
            rows = [r for r in rows if key(r)[0] > edge]
        rows.sort(key=key, reverse=True)
        if after is not None:
            rows = [r for r in rows if key(r) < after]
        if exhausted or n >= _MAX_FETCH:
            page = rows[:limit]
            more = len(rows) > limit or (not exhausted and bool(page))
            return page, key(page[-1]) if more else None
        if len(rows) >= limit:
            page = rows[:limit]
            return page, key(page[-1])
        n = min(n * 4, _MAX_FETCH)


def summaries_from_docstrings(router: APIRouter) -> None:
    """Use each route's one-line docstring as its OpenAPI summary (call before including)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.summary is None and route.endpoint.__doc__:
            route.summary = route.endpoint.__doc__.strip().splitlines()[0].rstrip(".")
