"""Unit tests of the journal writer: ordering, durability acknowledgements, segments, failures."""

from __future__ import annotations

import errno
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradehall.journal import (
    GENESIS_HASH,
    JournalConfig,
    JournalLocked,
    JournalWriteFailed,
    JournalWriter,
    OsFileOps,
    Ticket,
    encode_record,
    read_journal,
    scan_journal,
)
from tradehall.journal.codec import SEGMENT_HEADER_SIZE


def _records(first: int, count: int, size: int = 10) -> list[tuple[int, int, bytes]]:
    return [(seq, seq * 1_000, b"%0*d" % (size, seq)) for seq in range(first, first + count)]


class GatedOps(OsFileOps):
    """Blocks every fsync until `gate` is set, counting writes, to make groups deterministic."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.in_fsync = threading.Event()
        self.writes = 0

    def write(self, fd: int, data: memoryview) -> int:
        self.writes += 1
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self.in_fsync.set()
        assert self.gate.wait(10), "test gate never opened"
        super().fsync(fd)


class FailingOps(OsFileOps):
    """Raises EIO from write, fsync or open once armed, as a full or failing disk would."""

    def __init__(self, on: str) -> None:
        self.on = on
        self.armed = False
        self.error = OSError(errno.EIO, "injected I/O error")

    def open(self, path: Path, flags: int) -> int:
        if self.armed and self.on == "open":
            raise self.error
        return super().open(path, flags)

    def write(self, fd: int, data: memoryview) -> int:
        if self.armed and self.on == "write":
            raise self.error
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        if self.armed and self.on == "fsync":
            raise self.error
        super().fsync(fd)


class ShortWriteOps(OsFileOps):
    """Writes at most 3 bytes per call, as a pipe or signal-interrupted write may."""

    def write(self, fd: int, data: memoryview) -> int:
        return super().write(fd, data[:3])


def test_writer_when_records_appended_reads_back_in_order(tmp_path: Path) -> None:
    records = _records(1, 50)

    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        ticket = writer.append_sync(records)

    assert (ticket.first_seq, ticket.last_seq, ticket.done()) == (1, 50, True)
    assert [(r.seq, r.ts_ns, r.payload) for r in read_journal(tmp_path)] == records


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.binary(max_size=200), min_size=1, max_size=8), min_size=1, max_size=8))
def test_writer_when_any_payloads_appended_round_trips(batches: list[list[bytes]]) -> None:
    # Arrange
    expected: list[tuple[int, int, bytes]] = []
    with tempfile.TemporaryDirectory() as root:
        config = JournalConfig(root, fsync=False, segment_max_bytes=512)

        # Act
        with JournalWriter.open(config) as writer:
            for batch in batches:
                first = writer.last_seq + 1
                chunk = [(first + i, -i, payload) for i, payload in enumerate(batch)]
                writer.append(chunk)
                expected.extend(chunk)

        # Assert
        assert [(r.seq, r.ts_ns, r.payload) for r in read_journal(root)] == expected


@pytest.mark.parametrize("bad_first", [0, 1, 3, 5])
def test_writer_when_seq_not_next_raises_and_keeps_state(tmp_path: Path, bad_first: int) -> None:
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        writer.append_sync(_records(1, 1))

        with pytest.raises(ValueError, match="sequence gap"):
            writer.append([(bad_first, 0, b"x")])
        with pytest.raises(ValueError, match="sequence gap: expected 3 got 4"):
            writer.append([(2, 0, b"a"), (4, 0, b"b")])

        assert writer.last_seq == 1
        writer.append_sync(_records(2, 1))
    assert [r.seq for r in read_journal(tmp_path)] == [1, 2]


def test_writer_when_append_empty_raises_value_error(tmp_path: Path) -> None:
    with (
        JournalWriter.open(JournalConfig(str(tmp_path))) as writer,
        pytest.raises(ValueError, match="one"),
    ):
        writer.append([])


def test_writer_when_reopened_continues_chain_and_sequence(tmp_path: Path) -> None:
    # Arrange
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        writer.append_sync(_records(1, 3))
        hash_after_three = writer.last_hash

    # Act
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        reopened = (writer.last_seq, writer.last_hash)
        writer.append_sync(_records(4, 1))

    # Assert
    assert reopened == (3, hash_after_three)
    chain = GENESIS_HASH
    for record in read_journal(tmp_path):
        _, chain = encode_record(chain, record.seq, record.ts_ns, record.payload)
        assert record.chain_hash == chain
    assert [r.seq for r in read_journal(tmp_path)] == [1, 2, 3, 4]


def test_writer_when_segment_full_rolls_and_chains_across_segments(tmp_path: Path) -> None:
    # Arrange
    config = JournalConfig(str(tmp_path), segment_max_bytes=200)

    # Act
    with JournalWriter.open(config) as writer:
        for seq in range(1, 21):
            writer.append(_records(seq, 1))
        writer.roll()
        writer.roll()  # A roll of an empty segment is a no-op.
        writer.append_sync(_records(21, 1))

    # Assert
    scan = scan_journal(tmp_path)
    assert len(scan.segments) > 3
    assert all(s.size_bytes <= 200 + 46 for s in scan.segments)
    assert [s.first_seq for s in scan.segments][-1] == 21
    assert [r.seq for r in read_journal(tmp_path)] == list(range(1, 22))
    assert [r.seq for r in read_journal(tmp_path, from_seq=17)] == list(range(17, 22))


def test_writer_when_roll_requested_on_reopen_starts_new_segment(tmp_path: Path) -> None:
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        writer.append_sync(_records(1, 2))
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        writer.roll()
        writer.append_sync(_records(3, 1))

    names = [s.name for s in scan_journal(tmp_path).segments]
    assert names == ["00000000000000000001.log", "00000000000000000003.log"]


def test_writer_when_many_threads_append_all_tickets_complete_in_order(tmp_path: Path) -> None:
    # Arrange
    seq_lock = threading.Lock()
    tickets: list[Ticket] = []
    threads_count, per_thread = 8, 150

    def produce(thread_no: int) -> None:
        for i in range(per_thread):
            with seq_lock:
                seq = writer.last_seq + 1
                ticket = writer.append([(seq, thread_no, b"%d:%d" % (thread_no, i))])
                tickets.append(ticket)
            ticket.wait(timeout=30)

    # Act
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        threads = [threading.Thread(target=produce, args=(n,)) for n in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Assert
    assert all(t.done() for t in tickets)
    records = list(read_journal(tmp_path))
    assert [r.seq for r in records] == list(range(1, threads_count * per_thread + 1))
    for thread_no in range(threads_count):
        mine = [r.payload for r in records if r.ts_ns == thread_no]
        assert mine == [b"%d:%d" % (thread_no, i) for i in range(per_thread)]


def test_writer_when_appends_arrive_during_fsync_commits_them_as_one_group(
    tmp_path: Path,
) -> None:
    # Arrange
    ops = GatedOps()
    ops.gate.set()
    with JournalWriter.open(
        JournalConfig(str(tmp_path), max_batch_records=10), file_ops=ops
    ) as writer:
        ops.gate.clear()
        ops.in_fsync.clear()
        writes_before = ops.writes
        first = writer.append(_records(1, 1))
        assert ops.in_fsync.wait(10)

        # Act
        later = [writer.append(_records(seq, 1)) for seq in range(2, 27)]
        assert not any(t.done() for t in [first, *later])
        ops.gate.set()
        later[-1].wait(timeout=10)

        # Assert: one group for the first record, then groups of at most 10 records.
        assert ops.writes - writes_before == 1 + 3
        assert all(t.done() for t in [first, *later])


def test_writer_when_too_much_pending_blocks_producer(tmp_path: Path) -> None:
    # Arrange
    ops = GatedOps()
    ops.gate.set()
    config = JournalConfig(str(tmp_path), max_pending_records=4, max_batch_records=1)
    with JournalWriter.open(config, file_ops=ops) as writer:
        ops.gate.clear()
        ops.in_fsync.clear()
        writer.append(_records(1, 1))
        assert ops.in_fsync.wait(10)
        producer = threading.Thread(
            target=lambda: [writer.append(_records(s, 1)) for s in range(2, 11)]
        )

        # Act
        producer.start()
        deadline = time.monotonic() + 10
        while writer.last_seq < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        producer.join(timeout=0.2)

        # Assert: 1 record in the stuck fsync, 4 pending, the 6th append blocked.
        assert producer.is_alive()
        assert writer.last_seq == 5
        ops.gate.set()
        producer.join(timeout=10)
        writer.flush()
        assert writer.last_seq == 10


@pytest.mark.parametrize("on", ["write", "fsync"])
def test_writer_when_committer_io_fails_propagates_to_wait_and_later_calls(
    tmp_path: Path, on: str
) -> None:
    # Arrange
    ops = FailingOps(on)
    writer = JournalWriter.open(JournalConfig(str(tmp_path)), file_ops=ops)
    writer.append_sync(_records(1, 2))
    ops.armed = True

    # Act
    ticket = writer.append(_records(3, 1))
    with pytest.raises(JournalWriteFailed) as caught:
        ticket.wait(timeout=10)

    # Assert
    assert caught.value.error is ops.error
    assert caught.value.__cause__ is ops.error
    assert not ticket.done()
    with pytest.raises(JournalWriteFailed):
        writer.append(_records(4, 1))
    with pytest.raises(JournalWriteFailed):
        writer.close()
    writer.close()  # A second close is a no-op.
    assert [r.seq for r in read_journal(tmp_path)][:2] == [1, 2]


def test_writer_when_os_writes_short_still_writes_everything(tmp_path: Path) -> None:
    with JournalWriter.open(JournalConfig(str(tmp_path)), file_ops=ShortWriteOps()) as writer:
        writer.append_sync(_records(1, 5, size=40))

    assert [r.payload for r in read_journal(tmp_path)] == [p for _, _, p in _records(1, 5, 40)]


def test_writer_when_directory_already_open_raises_journal_locked(tmp_path: Path) -> None:
    with JournalWriter.open(JournalConfig(str(tmp_path))), pytest.raises(JournalLocked):
        JournalWriter.open(JournalConfig(str(tmp_path)))

    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        assert writer.last_seq == 0


def test_writer_when_closed_refuses_appends(tmp_path: Path) -> None:
    writer = JournalWriter.open(JournalConfig(str(tmp_path)))
    writer.close()

    with pytest.raises(RuntimeError, match="closed"):
        writer.append(_records(1, 1))


def test_writer_when_wait_times_out_raises_timeout_error(tmp_path: Path) -> None:
    ops = GatedOps()
    ops.gate.set()
    with JournalWriter.open(JournalConfig(str(tmp_path)), file_ops=ops) as writer:
        ops.gate.clear()
        ticket = writer.append(_records(1, 1))

        with pytest.raises(TimeoutError):
            ticket.wait(timeout=0.05)
        ops.gate.set()
        ticket.wait(timeout=10)
    assert "done" in repr(ticket)


def test_writer_when_fsync_off_still_writes_records(tmp_path: Path) -> None:
    with JournalWriter.open(
        JournalConfig(str(tmp_path), fsync=False, segment_max_bytes=100)
    ) as writer:
        writer.append_sync(_records(1, 3))
        writer.append_sync(_records(4, 3))

    assert scan_journal(tmp_path).last_seq == 6


@pytest.mark.parametrize(
    "build",
    [
        lambda root: JournalConfig(root, segment_max_bytes=SEGMENT_HEADER_SIZE),
        lambda root: JournalConfig(root, max_batch_records=0),
        lambda root: JournalConfig(root, max_pending_records=0),
    ],
)
def test_journal_config_when_limits_invalid_raises(
    tmp_path: Path, build: Callable[[str], JournalConfig]
) -> None:
    with pytest.raises(ValueError, match="must"):
        build(str(tmp_path))


class ZeroWriteOps(OsFileOps):
    """Once armed, reports that nothing was written (a naive write loop would spin forever)."""

    armed = False

    def write(self, fd: int, data: memoryview) -> int:
        return 0 if self.armed else super().write(fd, data)


def test_writer_when_os_write_returns_zero_fails_instead_of_spinning(tmp_path: Path) -> None:
    ops = ZeroWriteOps()
    writer = JournalWriter.open(JournalConfig(str(tmp_path)), file_ops=ops)
    ops.armed = True

    with pytest.raises(JournalWriteFailed, match="write returned 0"):
        writer.append_sync(_records(1, 1))
    with pytest.raises(JournalWriteFailed):
        writer.close()


def test_writer_when_torn_tail_found_truncates_durably_and_reports_it(tmp_path: Path) -> None:
    # Arrange
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        writer.append_sync(_records(1, 3))
    segment = next((tmp_path / "journal").glob("*.log"))
    segment.write_bytes(segment.read_bytes()[:-7])

    # Act
    with JournalWriter.open(JournalConfig(str(tmp_path))) as writer:
        recovery = writer.recovery
        writer.append_sync(_records(3, 1))

    # Assert
    assert (recovery.last_seq, recovery.torn_reason) == (2, "incomplete record")
    assert recovery.torn_bytes == len(_records(3, 1)[0][2]) + 36 - 7
    assert scan_journal(tmp_path).torn_bytes == 0


def test_writer_when_roll_fails_poisons_writer_and_reopen_recovers(tmp_path: Path) -> None:
    # Arrange
    ops = FailingOps("open")
    config = JournalConfig(str(tmp_path), segment_max_bytes=100)
    writer = JournalWriter.open(config, file_ops=ops)
    writer.append_sync(_records(1, 1))

    # Act: the records reach the old segment, then creating the next one fails.
    ops.armed = True
    with pytest.raises(JournalWriteFailed) as caught:
        writer.append_sync(_records(2, 2))
    with pytest.raises(JournalWriteFailed):
        writer.roll()
    with pytest.raises(JournalWriteFailed):
        writer.close()

    # Assert
    assert caught.value.error is ops.error
    with JournalWriter.open(config) as reopened:
        assert reopened.last_seq == 3
        reopened.append_sync(_records(4, 1))
    assert [r.seq for r in read_journal(tmp_path)] == [1, 2, 3, 4]


class CountingOps(OsFileOps):
    """Counts write calls, so tests can see how many groups were committed."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, fd: int, data: memoryview) -> int:
        self.writes += 1
        return super().write(fd, data)


def test_writer_when_commit_interval_is_set_gathers_trickled_appends_into_one_group(
        tmp_path: Path) -> None:
    # Arrange: a long interval, so appends made one by one all join the first group
    ops = CountingOps()
    config = JournalConfig(directory=tmp_path, commit_interval_us=300_000)
    with JournalWriter.open(config, file_ops=ops) as writer:
        before = ops.writes

        # Act
        tickets = [writer.append(_records(seq, 1)) for seq in range(1, 6)]
        tickets[-1].wait(10)

        # Assert
        assert all(ticket.done() for ticket in tickets)
        assert ops.writes - before == 1
    assert [record.seq for record in read_journal(tmp_path)] == [1, 2, 3, 4, 5]


def test_writer_when_closed_during_commit_interval_commits_without_waiting(
        tmp_path: Path) -> None:
    # Arrange
    config = JournalConfig(directory=tmp_path, commit_interval_us=60_000_000)
    writer = JournalWriter.open(config)
    ticket = writer.append(_records(1, 3))

    # Act
    started = time.monotonic()
    writer.close()

    # Assert
    assert ticket.done()
    assert time.monotonic() - started < 5
    assert [record.seq for record in read_journal(tmp_path)] == [1, 2, 3]


def test_journal_config_when_commit_interval_is_negative_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="commit_interval_us"):
        JournalConfig(directory=tmp_path, commit_interval_us=-1)
