"""`tradehall demo`: the platform's main job for now (filled in below)."""

from __future__ import annotations


def demo() -> None:
    """Run the demo."""
