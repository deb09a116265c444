"""The scale-out engine node: leader or hot standby over NATS JetStream.

Every node reads the command stream in order and applies each command to its own engine, so
all nodes hold the same state (the stream seq is the engine seq, the stream's store time the
engine time). Exactly one node leads: it holds the lease (a KV key with a TTL, renewed by
compare-and-set) and publishes the `EventBatch`es; the others only follow. Every node also
reads the event stream back: it keeps the results the leader has not published yet and mirrors
the leader's published book views, so a standby that takes over publishes the rest of the
history without a gap and without repeating a command, and its book deltas continue the
leader's numbering. Each publish names the event stream's expected last sequence, so a former
leader that wakes up after a pause cannot append: its publish fails and it starts over as a
standby. A node that loses the lease or a publish check does not try to repair itself: it
raises `SteppedDown` and `run_engine_node` builds it again from the newest state snapshot.

State snapshots go to the JetStream object store and are written by a standby (the leader's
loop is the latency path) and by a leader that stops cleanly; a new node restores the newest
and reads the command stream after it. The event stream carries a market snapshot (every
book view) at each takeover and then every second, where late consumers start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from tradehall.adapters.nats.link import NatsLink
from tradehall.adapters.nats.streams import (
    EXPECTED_LAST_SEQ,
    FIRST_SEQ,
    LAST_SEQ,
    MSG_ID,
    WRONG_LAST_SEQUENCE,
    NodeStatus,
    Topology,
    decode_batch,
    decode_market,
    delivery,
    encode_batch,
    encode_market,
    encode_status,
    stream_seq,
)
from tradehall.adapters.tasks import stop_task
from tradehall.config import Settings
from tradehall.engine.codec import decode_command
from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.state import encode_state, restore
from tradehall.entrypoints.workers.batches import BatchBuilder
from tradehall.marketdata.depth import DepthTracker
from tradehall.service.messages import CommandResult, EventBatch
from tradehall.trading.events import EngineEvent

_log = logging.getLogger(__name__)
_LEASE_KEY = "leader"
_SNAPSHOT_PREFIX = "state-"
_snapshot_encoder = msgspec.msgpack.Encoder()
_NATS_ERRORS = (NatsTimeout, ConnectionClosedError, NoRespondersError, TimeoutError, OSError)
# An ordered consumer is recreated after two missed heartbeats: after a NATS restart the
# node's consumers are back within about two seconds instead of ten.
_HEARTBEAT_S = 1.0


class SteppedDown(Exception):
    """This node may no longer lead (lease lost, or another node published): start over."""


class _StateSnapshot(msgspec.Struct, frozen=True, array_like=True):
    seq: int
    state_hash: bytes
    state: bytes


@dataclass(frozen=True, slots=True)
class EngineNodeConfig:
    """How one engine node runs."""

    topology: Topology
    node_id: str
    book_depth: int = 50
    apply_chunk: int = 4096  # commands applied between two looks at the loop
    results_per_message: int = 512  # results in one event message (NATS caps payloads)
    snapshot_every: int = 200_000  # commands between two state snapshots (by a standby)
    snapshots_kept: int = 3
    market_snapshot_s: float = 1.0
    takeover_timeout_s: float = 10.0
    publish_timeout_s: float = 2.0


class EngineNode:
    """One engine process of the scale-out topology (see the module docstring)."""

    def __init__(self, config: EngineNodeConfig) -> None:
        self.config = config
        self.role = "starting"
        self.engine = MatchingEngine()
        self.seq = 0  # last command applied
        self.published_seq = 0  # last command whose events are in the event stream
        self.snapshot_seq = 0  # last state snapshot written or restored
        self._depth = DepthTracker(config.book_depth)
        self._builder = BatchBuilder(self._depth)
        self._pending: deque[CommandResult] = deque()  # applied, not yet published
        self._commands: deque[Msg] = deque()
        self._events_last = 0  # event stream seq mirrored or published so far
        self._market_published_seq = -1
        self._market_at = 0.0
        self._wake = asyncio.Event()
        self._lease_rev = 0  # the lease's revision after its last renewal
        self._term = 0  # the lease's revision when this node took it: names its publishes
        self._lease_renewed = 0.0
        self._caught_up = asyncio.Event()
        self._catch_up_to = 0
        self._failure: BaseException | None = None
        self._js: JetStreamContext | None = None
        self._subs: list[Subscription] = []

    # -- Lifecycle ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow (and when elected, lead) until `stop` is set; raise `SteppedDown` when this
        node must start over."""
        topo = self.config.topology
        link = NatsLink(topo, f"engine-{self.config.node_id}")
        await link.open()  # waits for NATS, creates the streams and buckets when missing
        try:
            self._js = js = link.js
            await self._restore_snapshot(js)
            await self._start_mirror(js)
            info = await js.stream_info(topo.commands_stream)
            self._catch_up_to = info.state.last_seq
            self._subs.append(await js.subscribe(
                topo.commands_subject, stream=topo.commands_stream, ordered_consumer=True,
                cb=self._on_command, pending_msgs_limit=-1, pending_bytes_limit=-1,
                idle_heartbeat=_HEARTBEAT_S,
                config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                          opt_start_seq=self.seq + 1)))
            self._subs.append(await link.client.subscribe(topo.status_subject,
                                                          cb=self._on_status))
            kv = await js.key_value(topo.lease_bucket)
            lease = asyncio.create_task(self._lease_loop(kv), name="engine-lease")
            try:
                await self._main_loop(js, stop)
            finally:
                await stop_task(lease)
            if self.role == "leader":
                await self._hand_over(js, kv)
        finally:
            for sub in self._subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            await link.close()

    def _set_role(self, role: str) -> None:
        if role != self.role:
            _log.info("engine node %s: %s -> %s at seq %d (published %d)", self.config.node_id,
                      self.role, role, self.seq, self.published_seq)
            self.role = role

    async def _main_loop(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                if self._failure is not None:
                    raise self._failure
                if not self._commands and (self.role != "leader" or not self._pending):
                    waker = asyncio.create_task(self._wake.wait())
                    await asyncio.wait((waker, stopper), timeout=self.config.market_snapshot_s,
                                       return_when=asyncio.FIRST_COMPLETED)
                    waker.cancel()
                self._wake.clear()
                self._apply_queued()
                if self.role == "leader":
                    await self._publish(js)
                    await self._publish_market(js)
                elif self.role == "standby" and (
                        self.seq - self.snapshot_seq >= self.config.snapshot_every):
                    await self._write_snapshot(js)
                await asyncio.sleep(0)
        finally:
            stopper.cancel()

    async def _hand_over(self, js: JetStreamContext, kv: KeyValue) -> None:
        """A clean stop of the leader: publish the rest, snapshot, free the lease at once."""
        try:
            self._apply_queued()
            await self._publish(js)
            await self._write_snapshot(js)
            await kv.delete(_LEASE_KEY, last=self._lease_rev)
        except (SteppedDown, *_NATS_ERRORS, APIError) as exc:
            _log.warning("engine node %s: hand-over incomplete: %s", self.config.node_id, exc)

    # -- Following ------------------------------------------------------------------------------

    async def _on_command(self, msg: Msg) -> None:
        self._commands.append(msg)
        self._wake.set()

    def _apply_queued(self) -> None:
        """Apply the commands received so far, in stream order."""
        queued = self._commands
        apply = self.engine.apply
        pending = self._pending
        n = 0
        while queued and n < self.config.apply_chunk:
            msg = queued.popleft()
            seq, ts = delivery(msg)
            if seq <= self.seq:  # redelivered after a consumer reset
                continue
            if seq != self.seq + 1:
                self._failure = SteppedDown(f"command stream gap: {self.seq} then {seq}")
                return
            try:
                command = decode_command(msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                # Not a command (nothing tradehall wrote): it keeps its seq and does nothing.
                _log.warning("engine node: seq %d is not a command; skipped", seq)
                events: list[EngineEvent] = []
                self.engine.now_ns = max(self.engine.now_ns, ts)
            else:
                events = apply(command, ts)
            self.seq = seq
            if seq > self.published_seq:
                pending.append(CommandResult(seq, self.engine.now_ns, events))
            n += 1
        if queued:
            self._wake.set()  # more to do after a look at the loop
        if self.role == "starting" and self.seq >= self._catch_up_to:
            self._set_role("standby")
            self._caught_up.set()

    async def _start_mirror(self, js: JetStreamContext) -> None:
        """Read the event stream from its newest market snapshot on."""
        topo = self.config.topology
        start = 1
        try:
            last = await js.get_last_msg(topo.events_stream, topo.snapshot_subject)
        except NotFoundError:
            last = None
        if last is not None and last.data is not None and last.seq is not None:
            market = decode_market(last.data)
            self._depth.seed(market)
            self._advance_published(market.engine_seq)
            self._events_last = last.seq
            start = last.seq + 1
        # Results up to the newest batch are published whatever the mirror has read so far:
        # a node replaying a long stream need not hold them until the mirror gets there.
        with contextlib.suppress(NotFoundError):
            newest = await js.get_last_msg(topo.events_stream, topo.batch_subject)
            self._advance_published(int((newest.headers or {}).get(LAST_SEQ, 0)))
        self._subs.append(await js.subscribe(
            f"{topo.prefix.lower()}.ev.>", stream=topo.events_stream, ordered_consumer=True,
            cb=self._on_event, pending_msgs_limit=-1, pending_bytes_limit=-1,
            idle_heartbeat=_HEARTBEAT_S,
            config=api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                      opt_start_seq=start)))

    async def _on_event(self, msg: Msg) -> None:
        sseq = stream_seq(msg)
        if sseq <= self._events_last:  # this node's own publish, or seen already
            return
        if self.role == "leader" and not (msg.headers or {}).get(MSG_ID, "").startswith(
                f"{self.config.node_id}:{self._term}:"):
            # Only a leader appends: another one exists, so this one must not go on.
            self._failure = SteppedDown("another engine appended to the event stream")
            self._wake.set()
            return
        self._events_last = sseq
        try:
            if msg.subject == self.config.topology.snapshot_subject:
                market = decode_market(msg.data)
                self._depth.seed(market)
                self._advance_published(market.engine_seq)
                return
            batch = decode_batch(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            _log.error("engine node: event stream seq %d is not tradehall's; skipped", sseq)
            return
        for update in batch.books:
            if not self._depth.follow(update):
                self._failure = SteppedDown(f"book {update.symbol} skips to {update.seq}")
        self._advance_published(batch.last_seq)

    def _advance_published(self, seq: int) -> None:
        if seq <= self.published_seq:
            return
        self.published_seq = seq
        pending = self._pending
        while pending and pending[0].seq <= seq:
            pending.popleft()

    # -- Leading --------------------------------------------------------------------------------

    async def _lease_loop(self, kv: KeyValue) -> None:
        """Renew the lease while leading; otherwise try to take it once caught up."""
        lease_s = self.config.topology.lease_s
        await self._caught_up.wait()
        me = self.config.node_id.encode()
        while True:
            try:
                if self.role == "leader":
                    await self._renew(kv, me)
                else:
                    try:
                        revision = await kv.create(_LEASE_KEY, me)
                    except KeyWrongLastSequenceError:
                        pass  # somebody leads
                    else:
                        self._lease_renewed = time.monotonic()
                        self._lease_rev = self._term = revision
                        await self._take_over()
            except SteppedDown as exc:
                self._failure = exc
                self._wake.set()
                return
            except (*_NATS_ERRORS, APIError) as exc:
                _log.warning("engine node %s: lease: %s", self.config.node_id, exc)
                if (self.role == "leader"
                        and time.monotonic() - self._lease_renewed > lease_s):
                    self._failure = SteppedDown("the lease could not be renewed in time")
                    self._wake.set()
                    return
            await asyncio.sleep(lease_s / 3)

    async def _renew(self, kv: KeyValue, me: bytes) -> None:
        try:
            self._lease_rev = await kv.update(_LEASE_KEY, me, last=self._lease_rev)
        except KeyWrongLastSequenceError as exc:
            raise SteppedDown("the lease was taken over") from exc
        self._lease_renewed = time.monotonic()

    async def _take_over(self) -> None:
        """Read the event stream to its end, then lead from there."""
        js = self._js
        assert js is not None
        topo = self.config.topology
        info = await js.stream_info(topo.events_stream)
        end = info.state.last_seq
        deadline = time.monotonic() + self.config.takeover_timeout_s
        while self._events_last < end:
            if time.monotonic() > deadline:
                raise SteppedDown(f"the event stream could not be read to {end} in time")
            await asyncio.sleep(0.005)
        self._set_role("leader")
        self._market_published_seq = -1
        self._wake.set()

    async def _append(self, js: JetStreamContext, subject: str, payload: bytes,
                      headers: dict[str, str]) -> None:
        """Append one message to the event stream as its next one, or step down."""
        lease_s = self.config.topology.lease_s
        while True:
            try:
                headers[EXPECTED_LAST_SEQ] = str(self._events_last)
                ack = await js.publish(subject, payload, headers=headers,
                                       timeout=self.config.publish_timeout_s)
            except APIError as exc:
                if exc.err_code == WRONG_LAST_SEQUENCE:
                    raise SteppedDown("another engine appended to the event stream") from exc
                raise
            except _NATS_ERRORS as exc:
                # Unknown whether it was stored: the same message id makes a retry safe.
                if time.monotonic() - self._lease_renewed > lease_s:
                    raise SteppedDown("the event stream is unreachable") from exc
                _log.warning("engine node %s: publish retried: %s", self.config.node_id, exc)
                await asyncio.sleep(0.05)
                continue
            self._events_last = ack.seq
            return

    async def _publish(self, js: JetStreamContext) -> None:
        """Publish every pending result as the next batches of the event stream."""
        if not self._pending:
            return
        results = list(self._pending)
        batch = self._builder.build(self.engine, results, last_seq=self.seq)
        step = self.config.results_per_message
        node, term = self.config.node_id, self._term
        for start in range(0, len(results), step):
            chunk = results[start:start + step]
            last_chunk = start + step >= len(results)
            # Depth and balances ride on the last message: they are the state after it.
            part = EventBatch(first_seq=chunk[0].seq, last_seq=chunk[-1].seq, results=chunk,
                              books=batch.books if last_chunk else [],
                              balances=batch.balances if last_chunk else [])
            headers = {MSG_ID: f"{node}:{term}:{part.last_seq}",
                       FIRST_SEQ: str(part.first_seq), LAST_SEQ: str(part.last_seq)}
            await self._append(js, self.config.topology.batch_subject, encode_batch(part),
                               headers)
            self._advance_published(part.last_seq)

    async def _publish_market(self, js: JetStreamContext) -> None:
        """A market snapshot at each takeover, then at most every `market_snapshot_s`."""
        if self._market_published_seq == self.published_seq:
            return
        now = time.monotonic()
        if (self._market_published_seq >= 0
                and now - self._market_at < self.config.market_snapshot_s):
            return
        market = self._depth.snapshot(self.published_seq, self.engine.now_ns)
        headers = {MSG_ID: f"{self.config.node_id}:{self._term}:m{self.published_seq}",
                   LAST_SEQ: str(self.published_seq)}
        await self._append(js, self.config.topology.snapshot_subject, encode_market(market),
                           headers)
        self._market_published_seq = self.published_seq
        self._market_at = now

    # -- State snapshots ------------------------------------------------------------------------

    async def _restore_snapshot(self, js: JetStreamContext) -> None:
        store = await js.object_store(self.config.topology.snapshot_bucket)
        for name in sorted(await _snapshot_names(store), reverse=True):
            try:
                data = (await store.get(name)).data
                snap = msgspec.msgpack.decode(data or b"", type=_StateSnapshot)
                engine = restore(snap.state)
                if hashlib.blake2b(encode_state(engine), digest_size=32).digest() != (
                        snap.state_hash):
                    raise ValueError("state hash mismatch")
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError,
                    NotFoundError) as exc:
                _log.error("engine node: snapshot %s unusable (%s); trying an older one",
                           name, exc)
                continue
            self.engine, self.seq, self.snapshot_seq = engine, snap.seq, snap.seq
            _log.info("engine node %s: restored snapshot at seq %d", self.config.node_id,
                      snap.seq)
            return

    async def _write_snapshot(self, js: JetStreamContext) -> None:
        if self.seq == self.snapshot_seq:
            return
        state = encode_state(self.engine)
        digest = hashlib.blake2b(state, digest_size=32).digest()
        payload = _snapshot_encoder.encode(_StateSnapshot(self.seq, digest, state))
        store = await js.object_store(self.config.topology.snapshot_bucket)
        await store.put(f"{_SNAPSHOT_PREFIX}{self.seq:020d}", payload)
        self.snapshot_seq = self.seq
        for old in sorted(await _snapshot_names(store))[:-self.config.snapshots_kept]:
            with contextlib.suppress(NotFoundError, APIError):
                await store.delete(old)

    # -- Status ---------------------------------------------------------------------------------

    @property
    def pending_results(self) -> int:
        return len(self._pending)

    def status(self, *, with_hash: bool = False) -> NodeStatus:
        digest = None
        if with_hash:
            digest = hashlib.blake2b(encode_state(self.engine), digest_size=32).hexdigest()
        return NodeStatus(node_id=self.config.node_id, role=self.role, seq=self.seq,
                          published_seq=self.published_seq, state_hash=digest)

    async def _on_status(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(encode_status(self.status(with_hash=msg.data == b"hash")))


async def _snapshot_names(store: ObjectStore) -> list[str]:
    try:
        infos = await store.list()
    except NotFoundError:
        return []
    return [i.name for i in infos if i.name.startswith(_SNAPSHOT_PREFIX) and not i.deleted]


def node_config(settings: Settings) -> EngineNodeConfig:
    """The engine node's configuration from the process settings."""
    topology = Topology(url=settings.nats_url, prefix=settings.nats_prefix,
                        replicas=settings.nats_replicas, lease_s=settings.engine_lease_s)
    node_id = settings.node_id or f"{socket.gethostname()}-{os.getpid()}"
    return EngineNodeConfig(topology=topology, node_id=node_id,
                            book_depth=settings.book_depth,
                            snapshot_every=settings.snapshot_every or 200_000)


async def run_engine_node(settings: Settings) -> None:
    """Run an engine node until SIGTERM or SIGINT; start it over whenever it steps down."""
    from tradehall.entrypoints.workers.engine_health import HealthServer

    config = node_config(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    health = HealthServer(settings.host, settings.port)
    await health.start()
    try:
        while not stop.is_set():
            node = EngineNode(config)
            health.node = node
            try:
                await node.run(stop)
            except SteppedDown as exc:
                _log.warning("engine node %s stepped down (%s); starting over", config.node_id,
                             exc)
            except _NATS_ERRORS as exc:
                _log.warning("engine node %s: NATS unavailable (%s); retrying", config.node_id,
                             exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await health.stop()
