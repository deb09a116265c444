"""Reading the events stream (`<P>_EVENTS`, see `streams.py`): where to start, and in order.

- **Start without scanning.** `find_start(js, topology, after_seq)` finds the stream position
  of the first batch whose `Th-Last-Seq` is above an engine seq by binary search over
  `get_msg` (each probe asks for the next batch message at or after a position, so market
  snapshots between batches and messages the stream's limits removed are stepped over).
  `latest_market` returns the newest `MarketSnapshot`, where a market-data consumer starts.
- **Read in order, across outages.** `EventReader` reads the batches with an ordered consumer
  (ephemeral, no acks, flow control) from a start position. After a reconnect (the server
  may have lost the ephemeral consumer) or a subscribe that failed, it subscribes again after
  the last position it delivered; its callers see no interruption, only a pause.
- **Each result once.** Engine seqs, not stream positions, decide: a batch whose results are
  all at or below the last seq delivered is dropped, a batch that straddles it is trimmed to
  its new results (a new leader may publish again what its predecessor published). A batch
  without results (books and balances only) passes when it is not older than that seq.

Depth and balances in a batch are the state after its last result, so a trimmed batch keeps
them whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import msgspec
import nats.errors
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from tradehall.adapters.nats.link import NATS_ERRORS, NatsLink
from tradehall.adapters.nats.streams import (
    LAST_SEQ,
    Topology,
    decode_batch,
    decode_market,
    stream_seq,
)
from tradehall.service.messages import CommandResult, EventBatch, MarketSnapshot

_log = logging.getLogger(__name__)
POLL_S = 0.25  # how often an idle reader looks at its connection and at close()
HEARTBEAT_S = 1.0  # the ordered consumer's idle heartbeat: a lost consumer is noticed in ~2 s


# -- Start positions ------------------------------------------------------------------------------


async def _next_batch(js: JetStreamContext, topology: Topology,
                      position: int) -> api.RawStreamMsg | None:
    """The first batch message at or after a stream position, or None."""
    try:
        return await js.get_msg(topology.events_stream, seq=position,
                                subject=topology.batch_subject, next=True)
    except NotFoundError:
        return None


def _last_seq_of(msg: api.RawStreamMsg) -> int:
    value = (msg.headers or {}).get(LAST_SEQ)
    if value is not None:
        return int(value)
    return decode_batch(msg.data or b"").last_seq  # written without headers: read the payload


async def find_start(js: JetStreamContext, topology: Topology, after_seq: int) -> int:
    """The stream position to read from so that the first batch is the first one whose last
    engine seq is above `after_seq` (the position after the stream's end when none is)."""
    info = await js.stream_info(topology.events_stream)
    first, last = info.state.first_seq, info.state.last_seq
    low, high = max(first, 1), last + 1
    if after_seq <= 0:
        return low
    # Smallest position whose next batch is past `after_seq` (or has no next batch): that
    # predicate only turns from false to true as the position grows.
    while low < high:
        middle = (low + high) // 2
        msg = await _next_batch(js, topology, middle)
        if msg is None or _last_seq_of(msg) > after_seq:
            high = middle
        else:
            low = (msg.seq or middle) + 1
    return low


async def latest_market(js: JetStreamContext,
                        topology: Topology) -> tuple[int, MarketSnapshot] | None:
    """The newest market snapshot of the events stream and its position, or None."""
    try:
        msg = await js.get_last_msg(topology.events_stream, topology.snapshot_subject)
    except NotFoundError:
        return None
    if msg.data is None or msg.seq is None:
        return None
    return msg.seq, decode_market(msg.data)


async def fetch_result(js: JetStreamContext, topology: Topology,
                       seq: int) -> CommandResult | None:
    """Look one command's result up in the events stream (None if it is not there)."""
    position = await find_start(js, topology, seq - 1)
    msg = await _next_batch(js, topology, position)
    if msg is None or msg.data is None:
        return None
    for result in decode_batch(msg.data).results:
        if result.seq == seq:
            return result
    return None


# -- De-duplication -------------------------------------------------------------------------------


class SeqFilter:
    """Passes each engine seq once, in order; trims batches that repeat part of the history."""

    def __init__(self, after_seq: int) -> None:
        self.last_seq = after_seq

    def accept(self, batch: EventBatch) -> EventBatch | None:
        """The part of `batch` not delivered yet, or None when there is none."""
        seen = self.last_seq
        if batch.results:
            if batch.last_seq <= seen:
                return None
            if batch.first_seq <= seen:
                results = [r for r in batch.results if r.seq > seen]
                batch = msgspec.structs.replace(batch, first_seq=results[0].seq,
                                                results=results)
            elif batch.first_seq > seen + 1:
                _log.error("events stream: commands %d to %d are missing (not in the stream)",
                           seen + 1, batch.first_seq - 1)
        elif batch.last_seq < seen:
            return None
        self.last_seq = batch.last_seq
        return batch


# -- Reader ---------------------------------------------------------------------------------------


class EventReader:
    """The event batches after an engine seq, each result once, in order, until `close()`.

    Iterate it once. `position` may give the stream position to start at (found with
    `find_start` otherwise); batches at or below `after_seq` are dropped either way.
    """

    def __init__(self, link: NatsLink, *, after_seq: int, position: int | None = None,
                 retry_s: float = 0.5) -> None:
        self._link = link
        self._filter = SeqFilter(after_seq)
        self._position = position
        self._retry_s = retry_s
        self._closed = asyncio.Event()
        self.subscriptions = 0  # how many consumers it created (1 unless it had to resume)

    @property
    def last_seq(self) -> int:
        """The engine seq of the last batch delivered (or the seq it started after)."""
        return self._filter.last_seq

    def close(self) -> None:
        """End the iteration (within `POLL_S`)."""
        self._closed.set()

    async def __aiter__(self) -> AsyncIterator[EventBatch]:
        link = self._link
        topology = link.topology
        while not self._closed.is_set():
            try:
                if self._position is None:
                    self._position = await find_start(link.js, topology, self.last_seq)
                sub = await link.js.subscribe(
                    topology.batch_subject, stream=topology.events_stream,
                    ordered_consumer=True, idle_heartbeat=HEARTBEAT_S,
                    pending_msgs_limit=-1, pending_bytes_limit=-1,
                    config=api.ConsumerConfig(
                        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                        opt_start_seq=self._position))
            except NATS_ERRORS as exc:
                _log.debug("events stream: subscribe failed (%s); retrying", exc)
                await self._pause()
                continue
            self.subscriptions += 1
            reconnects = link.reconnects
            try:
                while not self._closed.is_set():
                    try:
                        msg = await sub.next_msg(timeout=POLL_S)
                    except nats.errors.TimeoutError:
                        if link.reconnects != reconnects:
                            break  # the consumer may be gone with the old connection
                        continue
                    except NATS_ERRORS as exc:
                        _log.debug("events stream: read failed (%s); resuming", exc)
                        await self._pause()
                        break
                    self._position = stream_seq(msg) + 1
                    batch = self._decode(msg.data)
                    if batch is not None:
                        batch = self._filter.accept(batch)
                    if batch is not None:
                        yield batch
            finally:
                with contextlib.suppress(*NATS_ERRORS):
                    await sub.unsubscribe()

    def _decode(self, payload: bytes) -> EventBatch | None:
        try:
            return decode_batch(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            _log.error("events stream: a message at %s is not an event batch (%s); skipped",
                       (self._position or 1) - 1, exc)
            return None

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), self._retry_s)
