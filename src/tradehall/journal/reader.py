"""Reading the journal back: records in order, chain and checksums checked, torn tail found.

This module owns the read path over `DIR/journal/*.log` and the one policy decision of the
journal: what counts as a torn tail (dropped) and what counts as corruption (raised). It must
never write, repair or skip anything: the writer truncates a torn tail, and any damage that is
not a torn tail raises `JournalCorrupted` with the file, offset and seq.

A torn tail is a defective record at the very end of the last segment whose declared extent
reaches or passes the end of the file (an incomplete or checksum-failing last record), or a
tail of zero bytes (a crash after the file grew but before its data reached the disk), or a last
segment too short to hold its header. A valid checksum with a wrong seq, a declared payload
length above `MAX_PAYLOAD_BYTES`, or a bad record followed by more data is corruption.

Who checks what. `read_journal(directory, from_seq)` skips whole segments before the one
holding `from_seq` by their file names and starts the chain from that segment's header
`prev_hash`, trusting it. `scan_tail` (what `JournalWriter.open` runs) walks only the last
segment, or the last two when the last one has no header yet (a crash while rolling), so the
writer's open costs one segment, not the whole journal. Recovery replays with
`prev_hash=snapshot.chain_hash`, which checks every record after the snapshot and ties the
snapshot to the journal it continues. Only `verify_journal` proves the whole chain.

A pruned journal (`prune_journal` removed its oldest segments) starts at its first retained
segment, whose header is trusted like a skipped segment's. Reading from a seq inside the
retained segments works; reading from an earlier seq raises `JournalPruned` naming the first
retained seq. `prune_journal` first writes the marker `DIR/journal/PRUNED` with the seq the
journal starts at from then on, so a journal whose first segment starts later than that seq
(1 without a marker) lost segments: that is corruption, as is every missing segment after the
first retained one.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tradehall.journal.codec import (
    GENESIS_HASH,
    RECORD_OVERHEAD,
    SEGMENT_HEADER_SIZE,
    Record,
    RecordDefect,
    RecordWalker,
    SegmentHeader,
    decode_segment_header,
    parse_segment_file_name,
)
from tradehall.journal.errors import JournalCorrupted, JournalPruned

SEGMENTS_SUBDIR = "journal"
PRUNE_MARKER = "PRUNED"


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """What one segment file held: its first and last seq, record count and size."""

    name: str
    first_seq: int
    last_seq: int
    records: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Where the good journal ends and what, if anything, was dropped as a torn tail.

    `segments` and `records` cover only what the walk read: from `first_seq` (chained to
    `start_hash`: the genesis hash at seq 1, otherwise the first walked segment's checked
    header; 1 and the genesis hash until that header is read) to `last_seq`. After
    `scan_tail` that is the last segment or two, not the whole journal. `good_end` is the byte
    offset in the last segment just past its last good record (or past its header);
    `torn_bytes` follow it. `headerless_tail` says the last segment has no complete header, so
    a writer must rewrite it rather than truncate it.
    """

    segments: tuple[SegmentSummary, ...]
    records: int
    first_seq: int
    start_hash: bytes
    last_seq: int
    last_hash: bytes
    tail_path: Path | None
    good_end: int
    torn_bytes: int
    torn_reason: str | None
    headerless_tail: bool


def segments_directory(directory: str | os.PathLike[str]) -> Path:
    """Return the folder holding the segment files of the journal rooted at `directory`."""
    return Path(directory) / SEGMENTS_SUBDIR


def list_segments(directory: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """List (first_seq, path) of every segment file, oldest first."""
    folder = segments_directory(directory)
    if not folder.is_dir():
        return []
    found: list[tuple[int, Path]] = []
    for entry in folder.iterdir():
        first_seq = parse_segment_file_name(entry.name)
        if first_seq is not None:
            found.append((first_seq, entry))
    found.sort()
    return found


def read_journal(
    directory: str | os.PathLike[str], from_seq: int = 1, *, prev_hash: bytes | None = None
) -> Iterator[Record]:
    """Yield the records with seq >= `from_seq`, checked, stopping quietly at a torn tail.

    Parameters
    ----------
    prev_hash
        The chain hash the caller holds for seq `from_seq - 1` (a snapshot's chain hash). If
        given, the journal must reach that seq with exactly that hash.

    Raises
    ------
    JournalCorrupted
        On any damage that is not a torn tail of the last segment, or if `prev_hash` does not
        match the journal (or the journal ends before `from_seq - 1`).
    """
    return iter(JournalScan(directory, from_seq, prev_hash=prev_hash))


def pruned_start(directory: str | os.PathLike[str]) -> int:
    """Return the seq the journal must start at: 1, or where the last prune left it.

    Raises
    ------
    JournalCorrupted
        If the prune marker cannot be read or does not hold a seq.
    """
    path = segments_directory(directory) / PRUNE_MARKER
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return 1
    except (OSError, ValueError) as error:
        raise JournalCorrupted(PRUNE_MARKER, 0, f"unreadable prune marker: {error}") from None
    word, _, digits = text.strip().partition(" ")
    if word != "first_seq" or not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        raise JournalCorrupted(PRUNE_MARKER, 0, f"bad prune marker: {text[:80]!r}")
    return int(digits)


def prune_marker_text(first_seq: int) -> bytes:
    """The content of the prune marker for a journal starting at `first_seq`."""
    return f"first_seq {first_seq}\n".encode("ascii")


def first_retained_seq(directory: str | os.PathLike[str]) -> int:
    """Return the first seq the journal still holds: 1, or more once it has been pruned."""
    segments = list_segments(directory)
    return segments[0][0] if segments else 1


def scan_journal(directory: str | os.PathLike[str]) -> ScanResult:
    """Walk the whole (retained) journal and report where its good part ends."""
    scan = JournalScan(directory, first_retained_seq(directory))
    for _ in scan:
        pass
    return scan.result()


def scan_tail(directory: str | os.PathLike[str]) -> ScanResult:
    """Walk only the last segment (and the one before when the last has no header yet).

    The walked segment's header `first_seq` and `prev_hash` are trusted, as `read_journal`
    trusts a skipped segment's; the result's `last_seq`, `last_hash` and torn tail are the
    same as a whole-journal scan finds when the journal before that segment is intact.
    """
    segments = list_segments(directory)
    scan = JournalScan(directory, segments[-1][0] if segments else 1)
    for _ in scan:
        pass
    return scan.result()


class JournalScan:
    """Iterate a journal's records once, then report the `ScanResult` of that walk."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        from_seq: int = 1,
        *,
        prev_hash: bytes | None = None,
    ) -> None:
        if from_seq < 1:
            raise ValueError(f"from_seq must be >= 1, got {from_seq}")
        self._directory = directory
        self._from_seq = from_seq
        # Still to be checked against the journal when not None (see read_journal).
        self._expected_prev = prev_hash
        self._segments: list[SegmentSummary] = []
        self._records = 0
        self._next_seq = 1
        self._last_hash = GENESIS_HASH
        self._first_seq = 1
        self._start_hash = GENESIS_HASH
        self._tail_path: Path | None = None
        self._good_end = 0
        self._torn_bytes = 0
        self._torn_reason: str | None = None
        self._headerless = False
        self._finished = False

    def result(self) -> ScanResult:
        """Return what the walk found up to its end (or up to the damage that stopped it)."""
        if not self._finished:
            raise RuntimeError("iterate the scan to the end before asking for its result")
        return ScanResult(
            segments=tuple(self._segments),
            records=self._records,
            first_seq=self._first_seq,
            start_hash=self._start_hash,
            last_seq=self._next_seq - 1,
            last_hash=self._last_hash,
            tail_path=self._tail_path,
            good_end=self._good_end,
            torn_bytes=self._torn_bytes,
            torn_reason=self._torn_reason,
            headerless_tail=self._headerless,
        )

    def __iter__(self) -> Iterator[Record]:
        segments = list_segments(self._directory)
        try:
            start = self._start_index(segments)
            # None means: trust the first walked segment's header for the chain (module doc).
            chain: bytes | None = GENESIS_HASH
            if segments and segments[start][0] != 1:
                self._next_seq, chain = segments[start][0], None
            for index in range(start, len(segments)):
                first_seq, path = segments[index]
                yield from self._walk_segment(path, first_seq, chain, index == len(segments) - 1)
                chain = self._last_hash
            if self._expected_prev is not None:
                self._check_prev_at_end(segments[-1][1].name if segments else "")
        except JournalCorrupted:
            # The result then describes the good part before the damage.
            self._finished = True
            raise
        self._finished = True

    def _start_index(self, segments: list[tuple[int, Path]]) -> int:
        if not segments:
            return 0
        first_seq, first_path = segments[0]
        allowed = pruned_start(self._directory)
        if first_seq > allowed:
            reason = (f"missing segment: the journal must start at seq {allowed} (1, or where "
                      f"the last prune left it) but its first segment starts at {first_seq}")
            raise JournalCorrupted(first_path.name, 0, reason, allowed)
        if self._from_seq < first_seq:
            raise JournalPruned(first_path.name, first_seq, self._from_seq)
        start = 0
        for index, (name_seq, _) in enumerate(segments):
            if name_seq <= self._from_seq:
                start = index
        start_seq, start_path = segments[start]
        if start == len(segments) - 1 and start_seq != 1 and _segment_unwritten(start_path):
            # A crash while rolling: the previous segment holds the last seq and chain hash.
            if start == 0:
                reason = "segment has no header and no earlier segment to continue the chain"
                raise JournalCorrupted(start_path.name, 0, reason, start_seq)
            start -= 1
        return start

    def _walk_segment(
        self, path: Path, name_seq: int, chain: bytes | None, is_last: bool
    ) -> Iterator[Record]:
        self._tail_path = path
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(SEGMENT_HEADER_SIZE)
            if is_last and name_seq == self._next_seq and _is_unwritten(head, file):
                self._drop_headerless(path, size)
                return
            header = self._check_header(path.name, head, name_seq, chain)
            self._last_hash = header.prev_hash
            if chain is None:
                self._first_seq, self._start_hash = header.first_seq, header.prev_hash
            self._good_end = SEGMENT_HEADER_SIZE
            first_count = self._records
            if size > SEGMENT_HEADER_SIZE:
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    yield from self._walk_records(path.name, buf, size, header, is_last)
        records = self._records - first_count
        self._segments.append(
            SegmentSummary(path.name, header.first_seq, self._next_seq - 1, records, size)
        )

    def _walk_records(
        self, name: str, buf: mmap.mmap, size: int, header: SegmentHeader, is_last: bool
    ) -> Iterator[Record]:
        walker = RecordWalker(buf, SEGMENT_HEADER_SIZE, size, header.prev_hash, header.first_seq)
        from_seq = self._from_seq
        prev = header.prev_hash
        try:
            for record in walker:
                self._records += 1
                if record.seq < from_seq:
                    prev = record.chain_hash
                    continue
                if self._expected_prev is not None:
                    self._check_prev(name, walker.offset, record, prev)
                yield record
        except RecordDefect as defect:
            if not (is_last and _is_torn_tail(defect, buf, size)):
                raise JournalCorrupted(name, defect.offset, defect.reason, defect.seq) from None
            self._torn_bytes = size - defect.offset
            self._torn_reason = defect.reason
        finally:
            self._next_seq, self._last_hash = walker.next_seq, walker.prev_hash
            self._good_end = walker.offset

    def _check_header(
        self, name: str, head: bytes, name_seq: int, chain: bytes | None
    ) -> SegmentHeader:
        try:
            header = decode_segment_header(head)
        except ValueError as error:
            raise JournalCorrupted(name, 0, f"bad segment header: {error}") from None
        if header.first_seq != name_seq:
            reason = f"bad segment header: first seq {header.first_seq} does not match file name"
            raise JournalCorrupted(name, 0, reason, header.first_seq)
        if header.first_seq != self._next_seq:
            reason = f"sequence gap: expected {self._next_seq} got {header.first_seq}"
            raise JournalCorrupted(name, 0, reason, header.first_seq)
        if chain is not None and header.prev_hash != chain:
            reason = "chain hash mismatch at segment start"
            raise JournalCorrupted(name, 0, reason, header.first_seq)
        return header

    def _check_prev(self, name: str, record_end: int, record: Record, prev: bytes) -> None:
        if prev != self._expected_prev:
            offset = record_end - RECORD_OVERHEAD - len(record.payload)
            reason = f"chain hash at seq {record.seq - 1} differs from the one expected"
            raise JournalCorrupted(name, offset, reason, record.seq - 1)
        self._expected_prev = None

    def _check_prev_at_end(self, name: str) -> None:
        last_seq, wanted = self._next_seq - 1, self._from_seq - 1
        if last_seq < wanted:
            reason = f"journal ends at seq {last_seq} before seq {wanted}"
            raise JournalCorrupted(name, self._good_end, reason, last_seq)
        if self._last_hash != self._expected_prev:
            reason = f"chain hash at seq {wanted} differs from the one expected"
            raise JournalCorrupted(name, self._good_end, reason, wanted)
        self._expected_prev = None

    def _drop_headerless(self, path: Path, size: int) -> None:
        self._headerless = True
        self._good_end = 0
        self._torn_bytes = size
        self._torn_reason = "incomplete segment header"
        self._segments.append(
            SegmentSummary(path.name, self._next_seq, self._next_seq - 1, 0, size)
        )


def _segment_unwritten(path: Path) -> bool:
    with path.open("rb") as file:
        return _is_unwritten(file.read(SEGMENT_HEADER_SIZE), file)


def _is_unwritten(head: bytes, file: BinaryIO) -> bool:
    # A segment whose header never fully reached the disk: too short, or only zero bytes.
    if len(head) < SEGMENT_HEADER_SIZE:
        return True
    if any(head):
        return False
    return not any(file.read())


def _is_torn_tail(defect: RecordDefect, buf: mmap.mmap, size: int) -> bool:
    if defect.reason.startswith("sequence gap"):
        # The checksum held, so these bytes were written whole: not a torn write.
        return False
    if buf[defect.offset : size].count(0) == size - defect.offset:
        return True
    if defect.reason.startswith("bad record length"):
        return False
    return defect.extent_end is None or defect.extent_end >= size
