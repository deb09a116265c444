"""Unit tests of the writer's tail-only open: only the last segment is read, the rest is trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit.pruning import mark_pruned
from tradehall.journal import (
    JournalConfig,
    JournalCorrupted,
    JournalWriter,
    read_journal,
    scan_journal,
    verify_journal,
)
from tradehall.journal.codec import RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE
from tradehall.journal.reader import (
    list_segments,
    scan_tail,
)


def _records(first: int, count: int) -> list[tuple[int, int, bytes]]:
    return [(seq, seq, b"payload-%d" % seq) for seq in range(first, first + count)]


def _write(root: Path, count: int) -> list[Path]:
    config = JournalConfig(str(root), fsync=False, segment_max_bytes=150)
    with JournalWriter.open(config) as writer:
        for seq in range(1, count + 1):
            writer.append(_records(seq, 1))
    return [path for _, path in list_segments(root)]


def _open(root: Path) -> JournalWriter:
    return JournalWriter.open(JournalConfig(str(root), fsync=False, segment_max_bytes=150))


def _flip_payload_byte(segment: Path) -> None:
    # The first record's payload: its checksum fails while more records follow it.
    data = bytearray(segment.read_bytes())
    data[SEGMENT_HEADER_SIZE + RECORD_HEADER_SIZE] ^= 0xFF
    segment.write_bytes(bytes(data))


def test_open_when_old_segment_damaged_reads_only_the_tail_and_verify_finds_it(
    tmp_path: Path,
) -> None:
    # Arrange
    segments = _write(tmp_path, 40)
    expected = scan_journal(tmp_path)
    _flip_payload_byte(segments[1])

    # Act
    with _open(tmp_path) as writer:
        recovery = writer.recovery
        writer.append_sync(_records(41, 1))
    report = verify_journal(tmp_path)

    # Assert: open walked one segment and continued the same chain.
    assert [summary.name for summary in recovery.segments] == [segments[-1].name]
    assert recovery.records == 40 - int(segments[-1].stem) + 1
    assert (recovery.last_seq, recovery.last_hash) == (40, expected.last_hash)
    assert report.corruption is not None
    assert (report.corruption.file, report.corruption.reason) == (
        segments[1].name, "checksum mismatch")


def test_tail_scan_when_journal_intact_agrees_with_the_whole_scan(tmp_path: Path) -> None:
    _write(tmp_path, 25)
    chain = {record.seq: record.chain_hash for record in read_journal(tmp_path)}

    whole, tail = scan_journal(tmp_path), scan_tail(tmp_path)

    assert (tail.last_seq, tail.last_hash, tail.good_end) == (
        whole.last_seq, whole.last_hash, whole.good_end)
    assert tail.segments == whole.segments[-1:]
    assert tail.first_seq == whole.segments[-1].first_seq
    assert tail.start_hash == chain[tail.first_seq - 1]
    assert (whole.first_seq, whole.records) == (1, 25)


@pytest.mark.parametrize("keep", [0, 5, SEGMENT_HEADER_SIZE - 1])
def test_open_when_last_segment_headerless_after_roll_walks_the_previous_one(
    tmp_path: Path, keep: int
) -> None:
    # Arrange: a crash while rolling left a short (or empty) last segment.
    segments = _write(tmp_path, 40)
    expected = {record.seq: record.chain_hash for record in read_journal(tmp_path)}
    last = segments[-1]
    previous_last = int(last.stem) - 1
    last.write_bytes(last.read_bytes()[:keep])
    _flip_payload_byte(segments[0])  # never read by the open

    # Act
    with _open(tmp_path) as writer:
        recovery = writer.recovery
        writer.append_sync(_records(previous_last + 1, 1))

    # Assert
    assert recovery.headerless_tail
    assert [summary.name for summary in recovery.segments] == [segments[-2].name, last.name]
    assert (recovery.last_seq, recovery.last_hash) == (previous_last, expected[previous_last])
    assert (recovery.torn_bytes, recovery.torn_reason) == (keep, "incomplete segment header")
    seqs = [r.seq for r in read_journal(tmp_path, int(segments[1].stem))]
    assert seqs[-1] == previous_last + 1


def test_open_when_last_segment_is_zero_filled_after_roll_resumes_from_previous(
    tmp_path: Path,
) -> None:
    segments = _write(tmp_path, 40)
    segments[-1].write_bytes(bytes(SEGMENT_HEADER_SIZE + 64))

    with _open(tmp_path) as writer:
        resumed_at = writer.last_seq
        writer.append_sync(_records(resumed_at + 1, 1))

    assert resumed_at == int(segments[-1].stem) - 1
    assert verify_journal(tmp_path).ok


def test_open_when_torn_tail_in_multi_segment_journal_truncates_only_the_tail(
    tmp_path: Path,
) -> None:
    # Arrange: the last record of the last segment loses its last 5 bytes.
    segments = _write(tmp_path, 40)
    last = segments[-1]
    size = last.stat().st_size
    last.write_bytes(last.read_bytes()[:-5])

    # Act
    with _open(tmp_path) as writer:
        recovery = writer.recovery
        writer.append_sync(_records(40, 2))

    # Assert
    assert (recovery.last_seq, recovery.torn_reason) == (39, "incomplete record")
    assert recovery.good_end + recovery.torn_bytes == size - 5
    assert [r.seq for r in read_journal(tmp_path)] == list(range(1, 42))
    assert verify_journal(tmp_path).ok


def test_open_when_damage_in_the_tail_is_not_at_its_end_raises(tmp_path: Path) -> None:
    _write(tmp_path, 40)
    with JournalWriter.open(JournalConfig(str(tmp_path), fsync=False)) as writer:
        writer.append_sync(_records(41, 5))  # the last segment now holds several records
    segments = [path for _, path in list_segments(tmp_path)]
    _flip_payload_byte(segments[-1])

    with pytest.raises(JournalCorrupted, match="checksum mismatch") as caught:
        _open(tmp_path)

    assert caught.value.file == segments[-1].name


def test_open_when_only_segment_is_headerless_after_pruning_raises(tmp_path: Path) -> None:
    # Nothing before it tells the seq and chain hash to continue from.
    segments = _write(tmp_path, 40)
    mark_pruned(tmp_path, int(segments[-1].stem))
    for segment in segments[:-1]:
        segment.unlink()
    segments[-1].write_bytes(b"")

    with pytest.raises(JournalCorrupted, match="no earlier segment to continue the chain"):
        _open(tmp_path)
