"""The journal: the append-only, hash-chained log of the engine's input commands.

Contract
--------
1. **Ordered inputs are recorded.** Every command the engine will apply is appended as one
   record `(seq, ts_ns, payload)` before it is applied. `seq` starts at 1 and is strictly
   consecutive: the writer refuses anything but `last_seq + 1`. `payload` is opaque bytes (the
   engine's msgspec encoding); `ts_ns` comes from the caller's clock, never from the journal.
2. **An acknowledgement means the record is fsynced.** `JournalWriter.append` returns a
   `Ticket`; the ticket is done only after the group commit holding the record was written and
   `fsync`ed. Results of a command may leave the engine only after its ticket is done. A failed
   write or fsync is never retried or hidden: the writer is poisoned and every waiting or later
   caller gets `JournalWriteFailed`.
3. **The journal is the source of truth; projections are copies.** SQL read models, caches and
   published events are write-through copies that can be dropped and rebuilt from the journal.
   Nothing ever edits the journal in place: it is appended to, or truncated only at a torn tail.
   Only `prune_journal` deletes: snapshots beyond the newest N valid ones (the engine host does
   so after each snapshot) and, on an operator's command, whole old segments that hold nothing
   after the oldest kept snapshot. A pruned journal starts at its first retained segment;
   state and projections can then be rebuilt only from the oldest kept snapshot on.
4. **Replay rebuilds the state exactly.** Loading the newest valid snapshot (taken at seq N,
   carrying the chain hash at N and the engine's state hash) and applying the records from
   N + 1 yields the same state, byte for byte and hash for hash, as the run that wrote them.
   `read_journal(root, N + 1, prev_hash=snapshot.chain_hash)` refuses a journal that does not
   continue that snapshot.
5. **Damage is loud, a torn tail is not.** Each record carries a chain hash,
   `blake2b(prev_hash + header + payload)`, chaining back to 16 zero bytes at seq 1 and across
   segment files through each segment header. An incomplete or checksum-failing record at the
   very end of the last segment (a crash during the last write, never acknowledged) is a torn
   tail: readers stop before it and the writer truncates it on open. Anything else (a bad
   record followed by more data, a sequence gap, a missing segment after the first retained
   one, a broken chain) raises `JournalCorrupted` naming the file, byte offset and seq; nothing
   is skipped. Asking for records that were pruned raises `JournalPruned`.

Layout on disk under the journal root `DIR`: segments `DIR/journal/<first seq, 20 digits>.log`
and snapshots `DIR/snapshots/snapshot-<seq, 20 digits>.bin`; byte layouts are documented in
`codec.py` and `snapshot.py`.

Who checks what: `JournalWriter.open` reads only the last segment (trusting its header), so
opening costs the same however long the journal is; recovery checks every record after its
snapshot, chained to the snapshot's hash; `verify_journal` checks everything from seq 1 (from
the first retained segment once pruned), including that every snapshot agrees with the journal
at its seq.
"""

from tradehall.journal.codec import GENESIS_HASH, Record, encode_record
from tradehall.journal.errors import (
    JournalCorrupted,
    JournalLocked,
    JournalPruned,
    JournalWriteFailed,
)
from tradehall.journal.files import FileOps, OsFileOps
from tradehall.journal.prune import PruneResult, prune_journal
from tradehall.journal.reader import (
    JournalScan,
    ScanResult,
    SegmentSummary,
    read_journal,
    scan_journal,
)
from tradehall.journal.snapshot import (
    Snapshot,
    SnapshotSearch,
    find_latest_snapshot,
    list_snapshots,
    load_latest_snapshot,
    read_snapshot,
    remove_partial_snapshots,
    write_snapshot,
)
from tradehall.journal.ticket import Ticket
from tradehall.journal.verify import SnapshotCheck, VerifyReport, verify_journal
from tradehall.journal.writer import JournalConfig, JournalWriter

__all__ = [
    "GENESIS_HASH",
    "FileOps",
    "JournalConfig",
    "JournalCorrupted",
    "JournalLocked",
    "JournalPruned",
    "JournalScan",
    "JournalWriteFailed",
    "JournalWriter",
    "OsFileOps",
    "PruneResult",
    "Record",
    "ScanResult",
    "SegmentSummary",
    "Snapshot",
    "SnapshotCheck",
    "SnapshotSearch",
    "Ticket",
    "VerifyReport",
    "encode_record",
    "find_latest_snapshot",
    "list_snapshots",
    "load_latest_snapshot",
    "prune_journal",
    "read_journal",
    "read_snapshot",
    "remove_partial_snapshots",
    "scan_journal",
    "verify_journal",
    "write_snapshot",
]
