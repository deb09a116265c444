"""Journal test helper: leave the marker a prune leaves, without pruning."""

from __future__ import annotations

from pathlib import Path

from tradehall.journal.reader import PRUNE_MARKER, prune_marker_text, segments_directory


def mark_pruned(root: Path, first_seq: int) -> None:
    """Write the marker `prune_journal` leaves, as if it had removed the segments before it."""
    (segments_directory(root) / PRUNE_MARKER).write_bytes(prune_marker_text(first_seq))
