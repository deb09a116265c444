"""Acknowledgement tickets: how a caller learns that its appended records are durable.

This module owns `Ticket` and the commit-progress watermark it waits on. The committer numbers
the queued entries 1, 2, 3... and advances one watermark after each group commit, so marking
every ticket of a group done costs one assignment and one `notify_all`, not one event per
ticket. It must never report a ticket done before its group was written and fsynced, and never
hide a committer failure: once failed, every ticket not yet durable raises `JournalWriteFailed`.
"""

from __future__ import annotations

import threading

from tradehall.journal.errors import JournalWriteFailed


class CommitProgress:
    """The committer's watermark: entries up to `committed` are durable, or `error` stopped it."""

    __slots__ = ("_cond", "committed", "error")

    def __init__(self, lock: threading.Lock) -> None:
        self._cond = threading.Condition(lock)
        self.committed = 0
        self.error: Exception | None = None

    def advance_locked(self, entries: int) -> None:
        """Mark `entries` more queued entries durable; the caller holds the lock."""
        self.committed += entries
        self._cond.notify_all()

    def fail_locked(self, error: Exception) -> None:
        """Record the committer's failure and wake every waiter; the caller holds the lock."""
        self.error = error
        self._cond.notify_all()

    def is_done(self, entry: int) -> bool:
        """Return whether entry number `entry` is durable."""
        return self.committed >= entry

    def wait_for(self, entry: int, timeout: float | None) -> None:
        """Block until entry number `entry` is durable.

        Raises
        ------
        JournalWriteFailed
            If the committer failed before the entry became durable.
        TimeoutError
            If `timeout` seconds passed first.
        """
        with self._cond:
            finished = self._cond.wait_for(
                lambda: self.committed >= entry or self.error is not None, timeout
            )
            if self.committed >= entry:
                return
            if not finished:
                raise TimeoutError(f"journal entry {entry} not durable after {timeout} s")
            assert self.error is not None
            raise JournalWriteFailed(self.error)


class Ticket:
    """The promise returned by `JournalWriter.append` for records `first_seq..last_seq`."""

    __slots__ = ("_entry", "_progress", "first_seq", "last_seq")

    def __init__(self, progress: CommitProgress, entry: int, first_seq: int, last_seq: int) -> None:
        self._progress = progress
        self._entry = entry
        self.first_seq = first_seq
        self.last_seq = last_seq

    def done(self) -> bool:
        """Return whether the records are durable (False also when the committer failed)."""
        return self._progress.is_done(self._entry)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the records are durable.

        Raises
        ------
        JournalWriteFailed
            If the committer failed before these records became durable.
        TimeoutError
            If `timeout` seconds passed first.
        """
        self._progress.wait_for(self._entry, timeout)

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"Ticket(seq {self.first_seq}..{self.last_seq}, {state})"
