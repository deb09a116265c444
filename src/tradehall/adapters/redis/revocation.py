"""`RedisRevocationNotices`: revocation notices shared by every API process through Redis
pub/sub (the `RevocationNotices` port of `identity/revocation.py`).

`publish` delivers to this process's listeners first (synchronously, as the embedded notices
do), then PUBLISHes a JSON notice on `<prefix>revocations`; the prefix separates deployments
sharing one Redis. Each process holds one subscription on its own connection and hands the
notices of other processes (told apart by a random origin id) to its listeners.

Pub/sub delivers at most once: a notice published while a process was not subscribed is lost
to it. So every subscription confirmation (the first one, and each after a reconnect) triggers
`resync`, a full re-read of what the listeners cache. The loop owns reconnection (the client
does not retry on its own, which would resubscribe silently), waits with a doubling backoff
(0.2 s to 10 s) while Redis is down, and pings every few seconds so a connection that went
silent is noticed and replaced. A PUBLISH is always tried (short timeouts, one retry, which
also replaces a pooled connection Redis dropped when it restarted): revocations are rare, and
skipping Redis for a while after a failure would lose notices sent just after it came back,
which no resync covers. A failed PUBLISH is logged, never raised: the revocation is in the
database, and the other processes' periodic re-reads still pick it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from tradehall.adapters.tasks import stop_task
from tradehall.identity.revocation import (
    InprocRevocationNotices,
    Revocation,
    RevocationKind,
    RevocationListener,
)
from tradehall.kernel.ids import random_uuid

_log = logging.getLogger(__name__)


class _Wire(msgspec.Struct, frozen=True, kw_only=True):
    origin: str
    kind: RevocationKind
    subject: str
    ts_ns: int


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Wire).decode


class RedisRevocationNotices:
    """Revocation notices over one Redis channel; a platform component (the subscriber)."""

    def __init__(self, url: str, *, prefix: str = "th:", backoff_min_s: float = 0.2,
                 backoff_max_s: float = 10.0, ping_s: float = 5.0) -> None:
        self.channel = prefix + "revocations"
        self.origin = random_uuid()
        self._local = InprocRevocationNotices()
        self._publisher: Redis = Redis.from_url(url, socket_connect_timeout=0.5,
                                                socket_timeout=0.5, retry=Retry(NoBackoff(), 1))
        self._subscriber: Redis = Redis.from_url(url, socket_connect_timeout=1.0,
                                                 socket_timeout=2.0, retry=Retry(NoBackoff(), 0))
        self._backoff = (backoff_min_s, backoff_max_s)
        # Processes restarted together should not reconnect in lockstep: spread by origin.
        self._spread = 1.0 + int(self.origin[:4], 16) % 50 / 100
        self._ping_s = ping_s
        self._task: asyncio.Task[None] | None = None
        self._publish_down = False
        self._listen_down = False
        self.subscribed = asyncio.Event()
        """Set while the subscription is confirmed (cleared on loss); tests wait on it."""
        self.resyncs = 0

    # -- The port -------------------------------------------------------------------------------

    def subscribe(self, listener: RevocationListener) -> None:
        self._local.subscribe(listener)

    async def publish(self, notice: Revocation) -> None:
        try:
            self._local.deliver(notice)
        finally:
            await self._send(notice)

    async def _send(self, notice: Revocation) -> None:
        payload = _encode(_Wire(origin=self.origin, kind=notice.kind, subject=notice.subject,
                                ts_ns=notice.ts_ns))
        try:
            await self._publisher.publish(self.channel, payload)
        except RedisError as exc:
            if not self._publish_down:
                self._publish_down = True
                _log.warning("revocation notices cannot be published (Redis: %s); other "
                             "processes learn of revocations at their periodic re-read", exc)
            return
        if self._publish_down:
            self._publish_down = False
            _log.warning("Redis answers again: revocation notices are published")

    # -- Component lifecycle --------------------------------------------------------------------

    async def attach(self, platform: object) -> None:
        del platform
        self._task = asyncio.create_task(self._run(), name="revocation-notices")

    async def start(self, platform: object) -> None:
        del platform

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # redis-py writes under `asyncio.wait_for`, which can swallow a cancel (gh-86296).
            await stop_task(task)
        await self._publisher.aclose()
        await self._subscriber.aclose()

    # -- The subscription -----------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._listen(pubsub)
            except Exception as exc:  # RedisError, OSError, or a bug: keep notices coming
                if not isinstance(exc, RedisError | OSError):
                    _log.exception("the revocation notice subscriber failed")
                if self.subscribed.is_set():
                    delay = self._backoff[0]  # it worked until now: retry soon
                self.subscribed.clear()
                if not self._listen_down:
                    self._listen_down = True
                    _log.warning("revocation notices are not received (Redis: %s); "
                                 "reconnecting, periodic re-reads meanwhile", exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py's stubs
            await asyncio.sleep(delay * self._spread)
            delay = min(delay * 2, self._backoff[1])

    async def _listen(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        heard = pinged = loop.time()
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(
                timeout=min(1.0, self._ping_s))
            now = loop.time()
            if message is not None:
                heard = now
                if message["type"] == "subscribe":
                    await self._subscribed()
                elif message["type"] == "message":
                    self._receive(message["data"])
            if now - heard > 3 * self._ping_s:
                raise RedisConnectionError("no answer to pings")
            if now - pinged >= self._ping_s:
                await pubsub.ping()
                pinged = now

    async def _subscribed(self) -> None:
        if self._listen_down:
            self._listen_down = False
            _log.warning("Redis answers again: revocation notices are received")
        self.subscribed.set()
        self.resyncs += 1
        try:
            await self._local.resync()
        except Exception:  # a database blip: the periodic re-reads still run
            _log.exception("re-reading revocations after (re)subscribing failed")

    def _receive(self, data: bytes) -> None:
        try:
            wire = _decode(data)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            _log.warning("ignored a malformed revocation notice: %s", exc)
            return
        if wire.origin == self.origin:
            return  # delivered here already, inside publish
        with contextlib.suppress(Exception):  # deliver logged it; the loop must go on
            self._local.deliver(Revocation(kind=wire.kind, subject=wire.subject,
                                           ts_ns=wire.ts_ns))
