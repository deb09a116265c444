"""What the fallback services need from storage (implemented in `adapters/sql/fallback.py`).

Every write is conditional, so several stateless fallback processes and the dispatcher can
work on the same rows: `update` succeeds only when the stored version is the one the caller
read, and bumps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from tradehall.fallback.model import FallbackRequest, ModeState, RequestKind, RequestStatus


class IdempotencyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What one `Idempotency-Key` of an account produced."""

    account: str
    key: str
    fingerprint: str
    """Hash of the request's content: the same key with other content is a conflict."""
    request_ids: tuple[str, ...]
    created_ns: int


class QueueQuery(msgspec.Struct, frozen=True, kw_only=True):
    """The desk's view of the queue: filters, order, paging."""

    statuses: tuple[RequestStatus, ...] = ()
    """Empty: every open status."""
    kind: RequestKind | None = None
    symbol: str | None = None
    account: str | None = None
    username: str | None = None
    created_before_ns: int | None = None
    """Older than: `created_ns < created_before_ns` (age filter)."""
    min_notional: int | None = None
    sort: Literal["created", "notional", "symbol", "updated"] = "created"
    descending: bool = False
    limit: int = 100
    offset: int = 0


class RequestStore(Protocol):
    async def create(self, requests: Sequence[FallbackRequest],
                     idempotency: IdempotencyRecord | None) -> list[FallbackRequest]:
        """Insert the requests (and the key) in one transaction.

        Raises Conflict `request_open_for_target` when a target already has an open request
        (nothing is inserted), and returns the stored requests of the key instead of inserting
        when `idempotency` names a key already used (the caller compares fingerprints first
        with `idempotency_record`).
        """
        ...

    async def idempotency_record(self, account: str, key: str) -> IdempotencyRecord | None: ...

    async def get(self, request_id: str) -> FallbackRequest | None: ...

    async def get_many(self, request_ids: Sequence[str]) -> list[FallbackRequest]: ...

    async def open_for_target(self, account: str, target: str) -> FallbackRequest | None: ...

    async def list_for_account(self, account: str, *, open_only: bool = False,
                               updated_after_ns: int | None = None,
                               limit: int = 100) -> list[FallbackRequest]:
        """The account's requests, newest first (or changed after a time, for polling)."""
        ...

    async def queue(self, query: QueueQuery) -> list[FallbackRequest]: ...

    async def count_open(self) -> dict[RequestStatus, int]: ...

    async def update(self, request: FallbackRequest, *, expected_version: int) -> bool:
        """Store `request` (its version already bumped) iff the stored version matches."""
        ...

    async def due_for_dispatch(self, limit: int = 100) -> list[FallbackRequest]:
        """Approved and executing requests, and manual executions not yet booked, oldest first."""
        ...


class ModeStore(Protocol):
    async def get(self) -> ModeState: ...

    async def set(self, state: ModeState, *, expected_version: int) -> bool:
        """Store the new mode (version bumped by the caller) iff the version matches."""
        ...
