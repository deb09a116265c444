"""Unit tests of the record and segment-header framing (pure, no files)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from hashlib import blake2b

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradehall.journal import JournalCorrupted
from tradehall.journal.codec import (
    GENESIS_HASH,
    HASH_SIZE,
    MAX_PAYLOAD_BYTES,
    RECORD_HEADER,
    RECORD_OVERHEAD,
    SEGMENT_HEADER_SIZE,
    Record,
    RecordDefect,
    RecordWalker,
    decode_segment_header,
    encode_batch,
    encode_record,
    encode_segment_header,
    parse_segment_file_name,
    segment_file_name,
)

payloads = st.lists(st.binary(max_size=300), min_size=1, max_size=40)
timestamps = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def _walk(data: bytes) -> list[Record]:
    return list(RecordWalker(data, 0, len(data), GENESIS_HASH, 1))


def test_encode_record_when_first_record_chains_to_genesis_hash() -> None:
    record, digest = encode_record(GENESIS_HASH, 1, 42, b"cmd")

    header = RECORD_HEADER.pack(3, 1, 42)
    assert record == header + b"cmd" + digest
    assert digest == blake2b(bytes(16) + header + b"cmd", digest_size=16).digest()


def test_encode_record_when_payload_too_large_raises() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_record(GENESIS_HASH, 1, 0, bytes(MAX_PAYLOAD_BYTES + 1))


@given(payloads, timestamps)
def test_encode_batch_when_walked_back_round_trips(items: list[bytes], ts_ns: int) -> None:
    # Arrange
    records = [(seq, ts_ns, payload) for seq, payload in enumerate(items, start=1)]

    # Act
    data, last_hash = encode_batch(GENESIS_HASH, 1, records)
    decoded = _walk(data)

    # Assert
    assert [(r.seq, r.ts_ns, r.payload) for r in decoded] == records
    assert decoded[-1].chain_hash == last_hash
    assert len(data) == sum(len(p) for p in items) + RECORD_OVERHEAD * len(items)


@given(payloads)
def test_encode_batch_when_compared_with_encode_record_is_identical(items: list[bytes]) -> None:
    expected, digest = b"", GENESIS_HASH
    for seq, payload in enumerate(items, start=1):
        record, digest = encode_record(digest, seq, 7, payload)
        expected += record

    data, last_hash = encode_batch(GENESIS_HASH, 1, [(s, 7, p) for s, p in enumerate(items, 1)])

    assert (data, last_hash) == (expected, digest)


def test_encode_batch_when_seq_skips_raises_value_error() -> None:
    with pytest.raises(ValueError, match="sequence gap: expected 2 got 3"):
        encode_batch(GENESIS_HASH, 1, [(1, 0, b"a"), (3, 0, b"b")])


def test_record_walker_when_byte_flipped_reports_checksum_mismatch_with_seq() -> None:
    # Arrange
    data, _ = encode_batch(GENESIS_HASH, 1, [(s, 0, b"payload") for s in range(1, 4)])
    record_size = RECORD_OVERHEAD + len(b"payload")
    damaged = bytearray(data)
    damaged[record_size + RECORD_HEADER.size + 2] ^= 0xFF
    walker = RecordWalker(bytes(damaged), 0, len(damaged), GENESIS_HASH, 1)

    # Act
    with pytest.raises(RecordDefect) as caught:
        list(walker)

    # Assert
    assert (caught.value.reason, caught.value.seq) == ("checksum mismatch", 2)
    assert caught.value.offset == record_size
    assert (walker.offset, walker.next_seq) == (record_size, 2)


def test_record_walker_when_seq_unexpected_reports_sequence_gap() -> None:
    data, _ = encode_batch(GENESIS_HASH, 5, [(5, 0, b"x")])

    with pytest.raises(RecordDefect, match="sequence gap: expected 1 got 5"):
        _walk(data)


@pytest.mark.parametrize(
    ("cut", "reason", "extent"),
    [(10, "incomplete record header", None), (RECORD_HEADER.size + 1, "incomplete record", 41)],
)
def test_record_walker_when_buffer_cut_reports_incomplete(
    cut: int, reason: str, extent: int | None
) -> None:
    data, _ = encode_record(GENESIS_HASH, 1, 0, b"abcde")

    with pytest.raises(RecordDefect) as caught:
        _walk(data[:cut])

    assert (caught.value.reason, caught.value.extent_end) == (reason, extent)


def test_record_walker_when_length_absurd_reports_bad_record_length() -> None:
    data = RECORD_HEADER.pack(MAX_PAYLOAD_BYTES + 1, 1, 0) + bytes(HASH_SIZE)

    with pytest.raises(RecordDefect, match="bad record length"):
        _walk(data)


def test_segment_header_when_encoded_decodes_to_same_fields() -> None:
    prev = bytes(range(16))

    header = decode_segment_header(encode_segment_header(77, prev))

    assert (header.version, header.first_seq, header.prev_hash) == (1, 77, prev)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda h: h[:-1], "truncated"),
        (lambda h: b"XXXX" + h[4:], "bad magic"),
        (lambda h: h[:4] + b"\x09\x00" + h[6:], "unsupported version"),
        (lambda h: h[:10] + b"\x01" + h[11:], "header checksum mismatch"),
    ],
)
def test_decode_segment_header_when_damaged_raises_with_reason(
    damage: Callable[[bytes], bytes], reason: str
) -> None:
    header = encode_segment_header(1, GENESIS_HASH)

    with pytest.raises(ValueError, match=reason):
        decode_segment_header(damage(header))


def test_segment_file_name_when_parsed_back_returns_first_seq() -> None:
    name = segment_file_name(123)

    assert name == "00000000000000000123.log"
    assert parse_segment_file_name(name) == 123
    assert len(encode_segment_header(1, GENESIS_HASH)) == SEGMENT_HEADER_SIZE


@pytest.mark.parametrize("name", ["LOCK", "123.log", "0000000000000000012x.log", "a.tmp"])
def test_parse_segment_file_name_when_not_a_segment_returns_none(name: str) -> None:
    assert parse_segment_file_name(name) is None


def test_encode_batch_when_payload_too_large_raises() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_batch(GENESIS_HASH, 1, [(1, 0, bytes(MAX_PAYLOAD_BYTES + 1))])


def test_journal_corrupted_when_pickled_keeps_its_fields() -> None:
    error = JournalCorrupted("00000000000000000001.log", 38, "checksum mismatch", 1)

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.file, copy.offset, copy.reason, copy.seq) == (
        "00000000000000000001.log",
        38,
        "checksum mismatch",
        1,
    )
    assert str(copy) == str(error)
