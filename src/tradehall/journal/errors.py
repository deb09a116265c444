"""Errors the journal raises, named for how the caller must react.

This module owns the journal's exception types and their messages. It must never decide policy
(what is torn and what is corrupt is the reader's call) and never swallow or log anything.

- `JournalCorrupted`: data that was acknowledged cannot be trusted (bad checksum in the middle,
  sequence gap, bad segment or snapshot header, broken chain). Stop the process and repair by
  hand; never skip the damaged part.
- `JournalWriteFailed`: the committer thread hit an I/O error. The writer is poisoned (every
  later append and wait raises it too); reopen the journal, which drops the unacknowledged tail.
- `JournalPruned` (a `JournalCorrupted`, so every caller that refuses damage refuses it too):
  the records asked for were deliberately pruned; the journal now starts at `first_seq`. Start
  from a snapshot at or after `first_seq - 1`, or put the pruned segments back from a backup.
- `JournalLocked`: another writer holds the journal directory.
"""

from __future__ import annotations

from typing import ClassVar


class JournalCorrupted(Exception):
    """Journal or snapshot data failed validation at a known file, offset and (if known) seq."""

    headline: ClassVar[str] = "journal corrupted"

    def __init__(self, file: str, offset: int, reason: str, seq: int | None = None) -> None:
        self.file = file
        self.offset = offset
        self.reason = reason
        self.seq = seq
        where = f"{file} at byte {offset}"
        if seq is not None:
            where += f" (seq {seq})"
        super().__init__(f"{self.headline}: {reason} in {where}")

    def __reduce__(self) -> tuple[type[JournalCorrupted], tuple[object, ...]]:
        # Keep the fields when the error crosses a process boundary (xdist, multiprocessing).
        return (type(self), (self.file, self.offset, self.reason, self.seq))


class JournalPruned(JournalCorrupted):
    """Records from `wanted_seq` on were asked for, but the journal was pruned before `first_seq`.

    `file` is the first retained segment, whose header starts the chain at `first_seq`.
    """

    headline: ClassVar[str] = "journal pruned"

    def __init__(self, file: str, first_seq: int, wanted_seq: int) -> None:
        self.first_seq = first_seq
        self.wanted_seq = wanted_seq
        reason = (f"the journal starts at seq {first_seq} (earlier records were pruned), so it "
                  f"cannot be read from seq {wanted_seq}")
        super().__init__(file, 0, reason, first_seq)

    def __reduce__(self) -> tuple[type[JournalCorrupted], tuple[object, ...]]:
        return (type(self), (self.file, self.first_seq, self.wanted_seq))


class JournalWriteFailed(Exception):
    """The journal committer failed to write or fsync; nothing after the failure is durable.

    The original error (an `OSError` in practice) is kept as `error` and as `__cause__`.
    """

    def __init__(self, error: Exception) -> None:
        self.error = error
        super().__init__(f"journal write failed: {error!r}")
        self.__cause__ = error


class JournalLocked(Exception):
    """Another journal writer already holds this directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        super().__init__(f"journal directory is locked by another writer: {directory}")
