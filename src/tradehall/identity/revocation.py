"""`RevocationNotices`: the port that tells every process, this one included, that a credential
was revoked, and `InprocRevocationNotices`, its embedded implementation.

A notice names a session, an API key, or a user whose state or roles changed; the listeners
(the session service's revoked set, the API-key cache, the WebSocket guard) act on it in
memory. The store stays the truth: a notice only makes a process drop what it cached sooner
than its periodic re-read would. Delivery to this process's own listeners is synchronous,
inside `publish`, so the process that revoked never depends on a network for it. A transport
that may have lost notices (a dropped connection) calls `resync`, after which each listener
re-reads everything it caches. No I/O here: the shared transport is an adapter
(`adapters/redis/revocation.py`).
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

import msgspec

_log = logging.getLogger(__name__)

RevocationKind = Literal["session", "api_key", "user"]
"""`session`: a session id whose access tokens must stop; `api_key`: a key id; `user`: a user
id whose state or roles changed (cached checks of their keys must be redone)."""


class Revocation(msgspec.Struct, frozen=True, kw_only=True):
    """A credential stopped working (or must be checked again) at `ts_ns`."""

    kind: RevocationKind
    subject: str
    ts_ns: int


class RevocationListener(Protocol):
    """What a process keeps about credentials and must drop when told."""

    def revoked(self, notice: Revocation) -> None:
        """Act on one notice in memory (no awaiting: it runs inside `publish`)."""
        ...

    async def resync(self) -> None:
        """Notices may have been missed: re-read everything cached."""
        ...


class RevocationNotices(Protocol):
    """Publishes revocations to every process of the deployment, this one included."""

    async def publish(self, notice: Revocation) -> None:
        """Deliver to this process's listeners at once, then to the other processes.

        Never raises for a transport failure: the periodic re-reads are the safety net.
        """
        ...

    def subscribe(self, listener: RevocationListener) -> None:
        """Add a listener; listeners run in the order they were added."""
        ...


class InprocRevocationNotices:
    """The embedded notices: one process, so publishing is delivering to its listeners."""

    def __init__(self) -> None:
        self._listeners: list[RevocationListener] = []

    def subscribe(self, listener: RevocationListener) -> None:
        self._listeners.append(listener)

    async def publish(self, notice: Revocation) -> None:
        self.deliver(notice)

    def deliver(self, notice: Revocation) -> None:
        """Hand a notice to every listener; one that fails must not starve the others."""
        failed: Exception | None = None
        for listener in self._listeners:
            try:
                listener.revoked(notice)
            except Exception as exc:
                _log.exception("revocation listener %r failed on %s", listener, notice)
                failed = failed or exc
        if failed is not None:
            raise failed

    async def resync(self) -> None:
        """Ask every listener to re-read what it caches (in subscription order)."""
        for listener in self._listeners:
            await listener.resync()
