"""Byte layout of journal records and segment headers, and nothing else.

This module owns the framing: how one record (length, seq, ts_ns, payload, chain hash) and one
segment header are packed and checked. It is pure: it never opens files, reads clocks, logs or
decides what a damaged record means (torn tail or corruption is the reader's call). It runs on
the hot path of every append and every replay, so per-record work is kept to one struct call,
one hash and one concatenation.

Record, little-endian::

    u32 payload_length | u64 seq | i64 ts_ns | payload | 16-byte chain hash
    chain_hash = blake2b(prev_chain_hash + header + payload, digest_size=16)

Segment header, little-endian::

    b"THJ1" | u16 version | u64 first_seq | 16-byte prev chain hash | 8-byte header checksum
    header_checksum = blake2b(the 30 bytes before it, digest_size=8)
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from hashlib import blake2b
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from mmap import mmap

HASH_SIZE: Final = 16
GENESIS_HASH = bytes(HASH_SIZE)
"""Chain hash that the first record of a journal chains to."""

_HASHER: Final = blake2b(digest_size=HASH_SIZE)  # empty state that each record's hash starts from
RECORD_HEADER: Final = struct.Struct("<IQq")
RECORD_HEADER_SIZE = RECORD_HEADER.size
RECORD_OVERHEAD = RECORD_HEADER_SIZE + HASH_SIZE
MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024
"""Largest payload accepted; a larger declared length is a damaged header, never a torn one."""

SEGMENT_MAGIC = b"THJ1"
SEGMENT_VERSION = 1
_SEGMENT_FIELDS = struct.Struct("<4sHQ16s")
_SEGMENT_CHECKSUM_SIZE = 8
SEGMENT_HEADER_SIZE = _SEGMENT_FIELDS.size + _SEGMENT_CHECKSUM_SIZE
SEGMENT_SUFFIX = ".log"


class Record(NamedTuple):
    """One journaled input: its sequence number, timestamp, opaque payload and chain hash."""

    seq: int
    ts_ns: int
    payload: bytes
    chain_hash: bytes


class SegmentHeader(NamedTuple):
    """The fields at the start of every segment file."""

    version: int
    first_seq: int
    prev_hash: bytes


class RecordDefect(Exception):  # An internal signal, caught by the reader.
    """Signal that the record at `offset` could not be decoded, and why."""

    def __init__(self, offset: int, reason: str, seq: int | None, extent_end: int | None) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason
        self.seq = seq
        # Where the record claims to end; None when not even its header is complete.
        self.extent_end = extent_end


def encode_record(prev_hash: bytes, seq: int, ts_ns: int, payload: bytes) -> tuple[bytes, bytes]:
    """Frame one record chained to `prev_hash`; return (record bytes, its chain hash)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    head = RECORD_HEADER.pack(len(payload), seq, ts_ns)
    digest = blake2b(prev_hash + head + payload, digest_size=HASH_SIZE).digest()
    return head + payload + digest, digest


def encode_batch(
    prev_hash: bytes, next_seq: int, records: Sequence[tuple[int, int, bytes]]
) -> tuple[bytes, bytes]:
    """Frame consecutive records starting at `next_seq`; return (bytes, last chain hash).

    Raises
    ------
    ValueError
        If a record's seq is not the next one or a payload is too large; nothing is encoded.
    """
    pack = RECORD_HEADER.pack
    parts: list[bytes] = []
    digest = prev_hash
    expected = next_seq
    for seq, ts_ns, payload in records:
        if seq != expected:
            raise ValueError(f"sequence gap: expected {expected} got {seq}")
        size = len(payload)
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload of {size} bytes exceeds {MAX_PAYLOAD_BYTES}")
        body = pack(size, seq, ts_ns) + payload
        # A copy of an initialised state is cheaper than a new blake2b(...), and one update
        # of one concatenation cheaper than three (each goes through the buffer protocol).
        hasher = _HASHER.copy()
        hasher.update(digest + body)
        digest = hasher.digest()
        parts.append(body)
        parts.append(digest)
        expected += 1
    return b"".join(parts), digest


class RecordWalker:
    """Decode and check consecutive records of one buffer, tracking the last good position.

    After iteration stops (normally, early, or by `RecordDefect`), `offset`, `prev_hash` and
    `next_seq` describe the end of the last good record.
    """

    __slots__ = ("_buf", "_end", "next_seq", "offset", "prev_hash")

    def __init__(
        self, buf: bytes | memoryview | mmap, offset: int, end: int, prev_hash: bytes, next_seq: int
    ) -> None:
        self._buf = buf
        self._end = end
        self.offset = offset
        self.prev_hash = prev_hash
        self.next_seq = next_seq

    def __iter__(self) -> Iterator[Record]:
        buf, end = self._buf, self._end
        off, prev, expected = self.offset, self.prev_hash, self.next_seq
        unpack = RECORD_HEADER.unpack_from
        while off < end:
            if end - off < RECORD_HEADER_SIZE:
                raise RecordDefect(off, "incomplete record header", None, None)
            length, seq, ts_ns = unpack(buf, off)
            if length > MAX_PAYLOAD_BYTES:
                raise RecordDefect(off, f"bad record length {length}", seq, None)
            hash_at = off + RECORD_HEADER_SIZE + length
            rec_end = hash_at + HASH_SIZE
            if rec_end > end:
                raise RecordDefect(off, "incomplete record", seq, rec_end)
            body = bytes(buf[off:hash_at])
            digest = blake2b(prev + body, digest_size=HASH_SIZE).digest()
            if digest != buf[hash_at:rec_end]:
                raise RecordDefect(off, "checksum mismatch", seq, rec_end)
            if seq != expected:
                raise RecordDefect(
                    off, f"sequence gap: expected {expected} got {seq}", seq, rec_end
                )
            prev, expected, off = digest, expected + 1, rec_end
            self.offset, self.prev_hash, self.next_seq = off, prev, expected
            yield Record(seq, ts_ns, body[RECORD_HEADER_SIZE:], digest)


def encode_segment_header(first_seq: int, prev_hash: bytes) -> bytes:
    """Pack the header that starts a segment whose first record is `first_seq`."""
    fields = _SEGMENT_FIELDS.pack(SEGMENT_MAGIC, SEGMENT_VERSION, first_seq, prev_hash)
    return fields + blake2b(fields, digest_size=_SEGMENT_CHECKSUM_SIZE).digest()


def decode_segment_header(data: bytes) -> SegmentHeader:
    """Unpack and check a segment header.

    Raises
    ------
    ValueError
        With the reason (too short, bad magic, unsupported version, header checksum mismatch).
    """
    if len(data) < SEGMENT_HEADER_SIZE:
        raise ValueError(f"truncated ({len(data)} of {SEGMENT_HEADER_SIZE} bytes)")
    fields = data[: _SEGMENT_FIELDS.size]
    magic, version, first_seq, prev_hash = _SEGMENT_FIELDS.unpack(fields)
    if magic != SEGMENT_MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    if version != SEGMENT_VERSION:
        raise ValueError(f"unsupported version {version}")
    checksum = data[_SEGMENT_FIELDS.size : SEGMENT_HEADER_SIZE]
    if blake2b(fields, digest_size=_SEGMENT_CHECKSUM_SIZE).digest() != checksum:
        raise ValueError("header checksum mismatch")
    return SegmentHeader(version, first_seq, prev_hash)


def segment_file_name(first_seq: int) -> str:
    """Name the segment whose first record is `first_seq` (20 digits, so names sort by seq)."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def parse_segment_file_name(name: str) -> int | None:
    """Return the first seq encoded in a segment file name, or None if it is not one."""
    stem, dot, suffix = name.partition(".")
    if dot + suffix != SEGMENT_SUFFIX or len(stem) != 20 or not (stem.isascii() and stem.isdigit()):
        return None
    return int(stem)
