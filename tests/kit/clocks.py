"""`ShiftedClock`: live time plus an offset that tests move forward (token expiry, lockouts,
TOTP time steps) while the engine and the server keep running on a monotonic clock. A test
that measures delays can `freeze` it, so a slow machine cannot let time pass on its own."""

from __future__ import annotations

from tradehall.kernel.clock import NANOS_PER_SECOND, LiveClock


class ShiftedClock:
    """The machine's clock, shifted forward by whatever `advance` added (or frozen)."""

    def __init__(self) -> None:
        self._live = LiveClock()
        self._offset_ns = 0
        self._frozen_ns: int | None = None

    def now_ns(self) -> int:
        base = self._live.now_ns() if self._frozen_ns is None else self._frozen_ns
        return base + self._offset_ns

    def advance(self, seconds: float) -> None:
        """Jump forward (never back) by some seconds."""
        if seconds < 0:
            raise ValueError("a clock never moves backwards")
        self._offset_ns += int(seconds * NANOS_PER_SECOND)

    def freeze(self) -> None:
        """Stop following the machine's clock: from now on only `advance` moves time."""
        if self._frozen_ns is None:
            self._frozen_ns = self._live.now_ns()

    def unix_s(self) -> int:
        """Whole seconds since the epoch, for computing TOTP codes the server will accept."""
        return self.now_ns() // NANOS_PER_SECOND
