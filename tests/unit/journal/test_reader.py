"""Unit tests of the read path: torn tails are dropped, every other kind of damage is raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit.pruning import mark_pruned
from tradehall.journal import (
    JournalConfig,
    JournalCorrupted,
    JournalPruned,
    JournalScan,
    JournalWriter,
    read_journal,
    scan_journal,
)
from tradehall.journal.codec import (
    RECORD_HEADER,
    RECORD_OVERHEAD,
    SEGMENT_HEADER_SIZE,
    encode_record,
    encode_segment_header,
)
from tradehall.journal.reader import (
    list_segments,
)


def _records(first: int, count: int) -> list[tuple[int, int, bytes]]:
    # Payload sizes vary so record boundaries are not evenly spaced.
    return [(seq, seq, b"p" * (seq % 7 + 3)) for seq in range(first, first + count)]


def _write(root: Path, count: int, segment_max_bytes: int = 1 << 20) -> list[Path]:
    config = JournalConfig(str(root), fsync=False, segment_max_bytes=segment_max_bytes)
    with JournalWriter.open(config) as writer:
        for seq in range(1, count + 1):
            writer.append(_records(seq, 1))
    return [path for _, path in list_segments(root)]


def _offset_of(segment: Path, seq: int) -> int:
    offset, data = SEGMENT_HEADER_SIZE, segment.read_bytes()
    while True:
        length, record_seq, _ = RECORD_HEADER.unpack_from(data, offset)
        if record_seq == seq:
            return offset
        offset += RECORD_OVERHEAD + length


def _seqs(root: Path, from_seq: int = 1) -> list[int]:
    return [record.seq for record in read_journal(root, from_seq)]


def test_reader_when_journal_missing_yields_nothing(tmp_path: Path) -> None:
    scan = scan_journal(tmp_path)

    assert (_seqs(tmp_path), scan.last_seq, scan.tail_path) == ([], 0, None)


def test_reader_when_last_record_cut_at_every_byte_drops_it_and_writer_resumes(
    tmp_path: Path,
) -> None:
    # Arrange
    source = _write(tmp_path / "source", 5)[0]
    data = source.read_bytes()
    last_start = _offset_of(source, 5)

    for cut in range(last_start, len(data)):
        root = tmp_path / f"cut-{cut}"
        (root / "journal").mkdir(parents=True)
        (root / "journal" / source.name).write_bytes(data[:cut])

        # Act
        scan = scan_journal(root)
        seqs = _seqs(root)
        with JournalWriter.open(JournalConfig(str(root), fsync=False)) as writer:
            resumed_at = writer.last_seq
            writer.append_sync([(5, 55, b"again")])

        # Assert
        assert (scan.last_seq, scan.good_end, scan.torn_bytes) == (4, last_start, cut - last_start)
        assert seqs == [1, 2, 3, 4]
        assert resumed_at == 4
        assert [r.payload for r in read_journal(root)][-1] == b"again"
        assert scan_journal(root).torn_bytes == 0


def test_reader_when_last_record_checksum_fails_treats_it_as_torn(tmp_path: Path) -> None:
    segment = _write(tmp_path, 5)[0]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0x01
    segment.write_bytes(bytes(data))

    scan = scan_journal(tmp_path)

    assert (scan.last_seq, scan.torn_reason) == (4, "checksum mismatch")


def test_reader_when_tail_is_zero_filled_treats_it_as_torn(tmp_path: Path) -> None:
    segment = _write(tmp_path, 3)[0]
    size = segment.stat().st_size
    segment.write_bytes(segment.read_bytes() + bytes(4096))

    scan = scan_journal(tmp_path)

    assert (scan.last_seq, scan.good_end, scan.torn_bytes) == (3, size, 4096)


def test_reader_when_middle_record_edited_raises_naming_its_seq(tmp_path: Path) -> None:
    # Arrange
    segment = _write(tmp_path, 10)[0]
    offset = _offset_of(segment, 4)
    data = bytearray(segment.read_bytes())
    data[offset + RECORD_HEADER.size + 1] ^= 0x20
    segment.write_bytes(bytes(data))

    # Act
    with pytest.raises(JournalCorrupted) as caught:
        _seqs(tmp_path)

    # Assert
    error = caught.value
    assert (error.file, error.offset, error.seq) == (segment.name, offset, 4)
    assert error.reason == "checksum mismatch"
    assert "seq 4" in str(error)
    with pytest.raises(JournalCorrupted, match="checksum mismatch"):
        JournalWriter.open(JournalConfig(str(tmp_path)))


def test_reader_when_record_length_absurd_mid_file_raises(tmp_path: Path) -> None:
    segment = _write(tmp_path, 4)[0]
    offset = _offset_of(segment, 2)
    data = bytearray(segment.read_bytes())
    data[offset + 3] = 0x7F  # The high byte of the u32 payload length.
    segment.write_bytes(bytes(data))

    with pytest.raises(JournalCorrupted, match="bad record length") as caught:
        scan_journal(tmp_path)

    assert caught.value.offset == offset


def test_reader_when_middle_segment_deleted_raises_sequence_gap(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    segments[2].unlink()
    first_after = int(segments[3].stem)
    expected = int(segments[2].stem)

    with pytest.raises(JournalCorrupted) as caught:
        _seqs(tmp_path)

    assert caught.value.reason == f"sequence gap: expected {expected} got {first_after}"
    assert (caught.value.file, caught.value.offset) == (segments[3].name, 0)


def test_reader_when_first_segment_lost_without_a_prune_raises(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    segments[0].unlink()

    with pytest.raises(JournalCorrupted, match="missing segment: the journal must start at "
                       "seq 1") as caught:
        _seqs(tmp_path, int(segments[1].stem))

    assert caught.value.file == segments[1].name


def test_reader_when_first_segment_pruned_reads_from_the_first_retained(tmp_path: Path) -> None:
    # The marker prune_journal writes first says where the journal starts now.
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    first = int(segments[1].stem)
    mark_pruned(tmp_path, first)
    segments[0].unlink()

    with pytest.raises(JournalPruned, match=f"starts at seq {first}") as caught:
        _seqs(tmp_path)

    assert (caught.value.first_seq, caught.value.wanted_seq) == (first, 1)
    assert caught.value.file == segments[1].name
    assert _seqs(tmp_path, first) == list(range(first, 31))


def test_reader_when_segment_header_chain_differs_raises(tmp_path: Path) -> None:
    # Arrange: a well-formed header whose prev hash belongs to another history.
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    body = segments[1].read_bytes()[SEGMENT_HEADER_SIZE:]
    segments[1].write_bytes(encode_segment_header(int(segments[1].stem), b"\x01" * 16) + body)

    # Act / Assert
    with pytest.raises(JournalCorrupted, match="chain hash mismatch at segment start"):
        scan_journal(tmp_path)


def test_reader_when_segment_header_byte_flipped_raises_bad_header(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    data = bytearray(segments[1].read_bytes())
    data[14] ^= 0xFF
    segments[1].write_bytes(bytes(data))

    with pytest.raises(JournalCorrupted, match="bad segment header: header checksum mismatch"):
        scan_journal(tmp_path)


def test_reader_when_segment_renamed_raises_bad_header(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    segments[-1].rename(segments[-1].with_name("00000000000000099999.log"))

    with pytest.raises(JournalCorrupted, match="does not match file name"):
        scan_journal(tmp_path)


def test_reader_when_bad_record_in_earlier_segment_tail_raises(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    data = segments[0].read_bytes()
    segments[0].write_bytes(data[:-3])

    with pytest.raises(JournalCorrupted, match="incomplete record") as caught:
        scan_journal(tmp_path)

    assert caught.value.file == segments[0].name


@pytest.mark.parametrize("keep", [0, 1, SEGMENT_HEADER_SIZE - 1])
def test_reader_when_new_segment_header_torn_drops_segment_and_writer_recreates(
    tmp_path: Path, keep: int
) -> None:
    # Arrange
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    last = segments[-1]
    last.write_bytes(last.read_bytes()[:keep])
    previous_last = int(last.stem) - 1

    # Act
    scan = scan_journal(tmp_path)
    with JournalWriter.open(JournalConfig(str(tmp_path), fsync=False)) as writer:
        resumed_at = writer.last_seq
        writer.append_sync(_records(previous_last + 1, 1))

    # Assert
    assert (scan.headerless_tail, scan.last_seq, scan.torn_bytes) == (True, previous_last, keep)
    assert resumed_at == previous_last
    assert _seqs(tmp_path)[-1] == previous_last + 1


def test_reader_when_from_seq_given_skips_older_segments(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    # Damage an early segment: a reader starting later never opens it.
    segments[0].write_bytes(b"garbage")

    assert _seqs(tmp_path, from_seq=12) == list(range(12, 31))
    assert _seqs(tmp_path, from_seq=31) == []
    with pytest.raises(JournalCorrupted):
        _seqs(tmp_path, from_seq=1)


def test_journal_scan_when_not_finished_refuses_result(tmp_path: Path) -> None:
    _write(tmp_path, 3)
    scan = JournalScan(tmp_path)

    with pytest.raises(RuntimeError, match="iterate"):
        scan.result()
    with pytest.raises(ValueError, match="from_seq"):
        JournalScan(tmp_path, from_seq=0)


def test_reader_when_prev_hash_matches_yields_from_seq_anywhere(tmp_path: Path) -> None:
    # Arrange
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    chain = {record.seq: record.chain_hash for record in read_journal(tmp_path)}
    boundary = int(segments[2].stem)

    # Act / Assert: mid-segment, at a segment's first record, and at the very end.
    for from_seq in (5, boundary, 31):
        seqs = [r.seq for r in read_journal(tmp_path, from_seq, prev_hash=chain[from_seq - 1])]
        assert seqs == list(range(from_seq, 31))


@pytest.mark.parametrize("from_seq", [5, 31, 40])
def test_reader_when_prev_hash_differs_or_journal_short_raises(
    tmp_path: Path, from_seq: int
) -> None:
    _write(tmp_path, 30, segment_max_bytes=150)

    with pytest.raises(JournalCorrupted, match=r"differs from the one expected|journal ends at"):
        list(read_journal(tmp_path, from_seq, prev_hash=b"\x07" * 16))


def test_reader_when_last_segment_all_zero_treats_it_as_headerless(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    segments[-1].write_bytes(bytes(SEGMENT_HEADER_SIZE + 100))

    scan = scan_journal(tmp_path)

    assert (scan.headerless_tail, scan.last_seq) == (True, int(segments[-1].stem) - 1)


def test_reader_when_last_segment_header_zero_but_data_follows_raises(tmp_path: Path) -> None:
    segments = _write(tmp_path, 30, segment_max_bytes=150)
    segments[-1].write_bytes(bytes(SEGMENT_HEADER_SIZE) + b"data")

    with pytest.raises(JournalCorrupted, match="bad segment header: bad magic"):
        scan_journal(tmp_path)


def test_reader_when_whole_last_record_has_wrong_seq_raises_not_torn(tmp_path: Path) -> None:
    # Arrange: a complete record with a valid chain hash but a skipped seq, at the very end.
    segment = _write(tmp_path, 3)[0]
    last_hash = scan_journal(tmp_path).last_hash
    record, _ = encode_record(last_hash, 9, 0, b"late")
    segment.write_bytes(segment.read_bytes() + record)

    # Act / Assert
    with pytest.raises(JournalCorrupted, match="sequence gap: expected 4 got 9"):
        scan_journal(tmp_path)
