"""The JetStream layout of a scale-out tradehall: streams, subjects, buckets and wire forms.

- `<P>_COMMANDS` (subject `<p>.cmd`) is the distributed journal. API processes publish one
  engine command per message (msgpack, `engine/codec.py`) with a `Nats-Msg-Id` unique per
  request, so a retried publish is stored once. The message's stream sequence *is* the
  command's engine seq and its server timestamp is the command's engine time (clamped so it
  never runs backwards), so every engine node that reads the stream computes the same state.
- `<P>_EVENTS` holds what the leading engine publishes: `<p>.ev.batch` carries one msgpack
  `EventBatch` (headers `Th-First-Seq`, `Th-Last-Seq`), `<p>.ev.snap` a `MarketSnapshot` of
  every book view, written now and then so a consumer that starts late begins at the newest
  snapshot. Every publish names the stream's expected last sequence: a second engine that
  still thinks it leads fails that check and steps down, so the stream is one linear history.
- KV bucket `<P>_LEASE`, key `leader`: the engine leadership lease (its TTL is the bucket's
  max age; the leader renews it with compare-and-set on the revision).
- Object store `<P>_SNAPSHOTS`: engine state snapshots (`state-<seq>`), readable by every node.

`<P>` is the configured prefix (upper case, default `TH`), `<p>` its lower case.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from tradehall.service.messages import EventBatch, MarketSnapshot

FIRST_SEQ = "Th-First-Seq"
LAST_SEQ = "Th-Last-Seq"
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
WRONG_LAST_SEQUENCE = 10071  # JetStream's error code when an expected-last check fails


@dataclass(frozen=True, slots=True)
class Topology:
    """Names and sizes of the streams and buckets one tradehall deployment uses."""

    url: str = "nats://127.0.0.1:4222"
    prefix: str = "TH"
    replicas: int = 1
    duplicate_window_s: float = 120.0
    lease_s: float = 3.0
    max_events_bytes: int = -1  # events are derived data; cap them in production

    @property
    def commands_stream(self) -> str:
        return f"{self.prefix}_COMMANDS"

    @property
    def commands_subject(self) -> str:
        return f"{self.prefix.lower()}.cmd"

    @property
    def events_stream(self) -> str:
        return f"{self.prefix}_EVENTS"

    @property
    def batch_subject(self) -> str:
        return f"{self.prefix.lower()}.ev.batch"

    @property
    def snapshot_subject(self) -> str:
        return f"{self.prefix.lower()}.ev.snap"

    @property
    def status_subject(self) -> str:
        """Core NATS request subject every engine node answers with its `NodeStatus`."""
        return f"{self.prefix.lower()}.engine.status"

    @property
    def lease_bucket(self) -> str:
        return f"{self.prefix}_LEASE"

    @property
    def snapshot_bucket(self) -> str:
        return f"{self.prefix}_SNAPSHOTS"


async def connect(url: str, name: str, *, reconnect_wait_s: float = 0.5,
                  connect_timeout_s: float = 2.0) -> Client:
    """Connect with endless reconnects (a NATS restart must not end a tradehall process)."""
    return await nats.connect(url, name=name, allow_reconnect=True, max_reconnect_attempts=-1,
                              reconnect_time_wait=reconnect_wait_s,
                              connect_timeout=connect_timeout_s)


async def ensure_streams(js: JetStreamContext, topology: Topology) -> None:
    """Create the streams and buckets when missing (idempotent; run by every role)."""
    for name, subjects, max_bytes in (
            (topology.commands_stream, [topology.commands_subject], -1),
            (topology.events_stream, [topology.batch_subject, topology.snapshot_subject],
             topology.max_events_bytes)):
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(api.StreamConfig(
                name=name, subjects=subjects, storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS, num_replicas=topology.replicas,
                duplicate_window=topology.duplicate_window_s, max_bytes=max_bytes,
                discard=api.DiscardPolicy.OLD))
    try:
        await js.key_value(topology.lease_bucket)
    except NotFoundError:
        await js.create_key_value(api.KeyValueConfig(
            bucket=topology.lease_bucket, history=1, ttl=topology.lease_s,
            storage=api.StorageType.FILE, replicas=topology.replicas))
    try:
        await js.object_store(topology.snapshot_bucket)
    except NotFoundError:
        await js.create_object_store(topology.snapshot_bucket, config=api.ObjectStoreConfig(
            bucket=topology.snapshot_bucket, storage=api.StorageType.FILE,
            replicas=topology.replicas))


# -- Wire forms -----------------------------------------------------------------------------------

_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(EventBatch)
_snapshot_decoder = msgspec.msgpack.Decoder(MarketSnapshot)


def encode_batch(batch: EventBatch) -> bytes:
    return _encoder.encode(batch)


def decode_batch(payload: bytes) -> EventBatch:
    batch: EventBatch = _batch_decoder.decode(payload)
    return batch


def encode_market(snapshot: MarketSnapshot) -> bytes:
    return _encoder.encode(snapshot)


def decode_market(payload: bytes) -> MarketSnapshot:
    snapshot: MarketSnapshot = _snapshot_decoder.decode(payload)
    return snapshot


def stream_seq(msg: Msg) -> int:
    """The stream sequence of a message delivered by a JetStream consumer."""
    return int(msg.metadata.sequence.stream)


def delivery(msg: Msg) -> tuple[int, int]:
    """(stream sequence, store time in ns) of a message delivered by a JetStream consumer.

    Read off the reply subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.
    <pending>`, or the v2 form with domain and account hash first) in one split: the client's
    own metadata turns the time into a float (the engine's time must be exact on every node)
    and costs several times more on the engine's per-command path.
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[7])
    if len(tokens) >= 11:
        return int(tokens[7]), int(tokens[9])
    raise ValueError(f"not a JetStream delivery: {msg.reply!r}")


class NodeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What an engine node answers on the status subject."""

    node_id: str
    role: str  # "starting", "standby" or "leader"
    seq: int  # last command applied
    published_seq: int  # last command whose events are in the events stream
    state_hash: str | None = None  # hex, when asked with payload b"hash"


def encode_status(status: NodeStatus) -> bytes:
    return msgspec.json.encode(status)


def decode_status(payload: bytes) -> NodeStatus:
    status: NodeStatus = msgspec.json.decode(payload, type=NodeStatus)
    return status
