"""Records of the fallback and dealing desk, and the rules of their state machine.

Pure: no I/O, no clock (every time is passed in as engine-style nanoseconds). Quantities are
lots and prices ticks of the request's instrument; notionals are quote minor units. The edge
converts to decimal strings.

A request names exactly one target: an order (`cancel_order`) or a position
(`close_position`). "Cancel all" and "close all" create one request per open order or position,
sharing a `batch_id`, so that "one open request per target" is a single unique key.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from tradehall.kernel.errors import Conflict, Rejected


class PlatformMode(StrEnum):
    NORMAL = "normal"
    CLOSE_ONLY = "close_only"
    """New risk refused; cancels, closes and reduce-only orders allowed."""
    FALLBACK = "fallback"
    """The engine is unavailable or in maintenance: users file requests, the desk works them."""


class ModeState(msgspec.Struct, frozen=True, kw_only=True):
    """The platform's mode, who set it and why."""

    mode: PlatformMode = PlatformMode.NORMAL
    reason: str = ""
    set_by: str = "system"
    since_ns: int = 0
    automatic: bool = False
    """Entered by the health monitor; the monitor leaves it again when the engine is back."""
    previous: PlatformMode = PlatformMode.NORMAL
    """The mode to return to when an automatic fallback ends."""
    version: int = 0


class RequestKind(StrEnum):
    CANCEL_ORDER = "cancel_order"
    CLOSE_POSITION = "close_position"


class RequestStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    AWAITING_APPROVAL = "awaiting_approval"
    """Four-eyes: a dealer decided to execute; a second dealer must approve."""
    APPROVED = "approved"
    """Decided; waits for the engine (the dispatcher executes it exactly once)."""
    EXECUTING = "executing"
    """The dispatcher sent it to the engine; the outcome is being recorded."""
    EXECUTED = "executed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = frozenset({RequestStatus.PENDING, RequestStatus.CLAIMED,
                           RequestStatus.AWAITING_APPROVAL, RequestStatus.APPROVED,
                           RequestStatus.EXECUTING})
FINAL_STATUSES = frozenset({RequestStatus.EXECUTED, RequestStatus.REJECTED,
                            RequestStatus.WITHDRAWN})


class Execution(StrEnum):
    ENGINE = "engine"
    """Executed by the engine (at market, or a cancel)."""
    MANUAL = "manual"
    """Executed by the desk at a dealer-given price; booked in the ledger when the engine is up."""


class Booking(StrEnum):
    """Ledger booking of a manual execution."""

    NONE = "none"
    """Nothing to book (engine executions, cancels, rejections)."""
    PENDING = "pending"
    BOOKED = "booked"
    FAILED = "failed"
    """The live state did not allow it (the position was already closed); see reject fields."""


MAX_NOTE = 500
MAX_REASON = 500
REJECT_PRESETS: dict[str, str] = {
    "market_closed": "The market for this instrument is closed.",
    "insufficient_liquidity": "There is not enough liquidity to execute now.",
    "already_done": "The order or position was already closed.",
    "duplicate": "The same request was already submitted.",
    "contact_support": "Please contact support about this request.",
}
"""Preset reasons a dealer can pick (code -> text shown to the user)."""


class FallbackRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A user's request to cancel an order or close (part of) a position."""

    id: str  # UUID
    account: str  # the engine account
    user_id: str
    username: str
    kind: RequestKind
    symbol: str
    order_id: str | None = None
    """The order's UUID (read model `OrderRecord.id`) for cancel_order."""
    side: str
    """The order's side, or the position's direction ("long"/"short") for closes."""
    qty: int | None = None
    """Lots to close; None closes the whole position (closes only)."""
    known_qty: int
    """Last known open quantity in lots: the order's leaves or the position's |net qty|."""
    known_price: int | None = None
    """Last known reference price in ticks (order price, or last trade / entry for closes)."""
    notional: int = 0
    """Estimated quote minor units of what would execute (sizes, filters, four-eyes)."""
    note: str = ""
    batch_id: str | None = None
    status: RequestStatus = RequestStatus.PENDING
    created_ns: int
    updated_ns: int
    claimed_by: str | None = None
    claim_expires_ns: int | None = None
    decided_by: str | None = None
    approved_by: str | None = None
    execution: Execution | None = None
    price: int | None = None
    """Execution price in ticks (average for engine fills, the dealer's for manual)."""
    executed_qty: int | None = None
    executed_ns: int | None = None
    booking: Booking = Booking.NONE
    reject_code: str | None = None
    reject_reason: str | None = None
    engine_order_id: str | None = None
    """The engine order (UUID) that executed or booked it."""
    version: int = 0

    @property
    def target(self) -> str:
        """What the request acts on; at most one open request per (account, target)."""
        if self.kind is RequestKind.CANCEL_ORDER:
            return f"order:{self.order_id}"
        return f"position:{self.symbol}"

    @property
    def client_order_id(self) -> str:
        """The client order id the dispatcher uses, so the engine itself refuses a repeat."""
        return "fb-" + self.id.replace("-", "")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def claimed_now(self, now_ns: int) -> bool:
        """Claimed by someone whose claim has not timed out."""
        return (self.status is RequestStatus.CLAIMED and self.claim_expires_ns is not None
                and self.claim_expires_ns > now_ns)


# -- State machine -------------------------------------------------------------------------------
_ALLOWED: dict[RequestStatus, frozenset[RequestStatus]] = {
    # A dealer may decide on a free request at once (claiming it in the same step).
    RequestStatus.PENDING: frozenset({RequestStatus.CLAIMED, RequestStatus.WITHDRAWN,
                                      RequestStatus.REJECTED, RequestStatus.APPROVED,
                                      RequestStatus.AWAITING_APPROVAL, RequestStatus.EXECUTED}),
    # WITHDRAWN: the owner may withdraw once a claim has expired unused.
    RequestStatus.CLAIMED: frozenset({RequestStatus.PENDING, RequestStatus.CLAIMED,
                                      RequestStatus.AWAITING_APPROVAL, RequestStatus.APPROVED,
                                      RequestStatus.EXECUTED, RequestStatus.REJECTED,
                                      RequestStatus.WITHDRAWN}),
    RequestStatus.AWAITING_APPROVAL: frozenset({RequestStatus.APPROVED, RequestStatus.EXECUTED,
                                                RequestStatus.REJECTED}),
    RequestStatus.APPROVED: frozenset({RequestStatus.EXECUTING, RequestStatus.EXECUTED,
                                       RequestStatus.REJECTED}),
    RequestStatus.EXECUTING: frozenset({RequestStatus.EXECUTED, RequestStatus.REJECTED}),
    RequestStatus.EXECUTED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.WITHDRAWN: frozenset(),
}


def check_transition(current: RequestStatus, new: RequestStatus) -> None:
    """Raise Conflict (`request_state`) unless `current -> new` is allowed."""
    if new not in _ALLOWED[current]:
        raise Conflict(f"a {current.value} request cannot become {new.value}",
                       code="request_state")


def check_note(note: str, field: str = "note", limit: int = MAX_NOTE) -> str:
    """A free text of a user or dealer: trimmed, bounded, no control characters."""
    text = note.strip()
    if len(text) > limit:
        raise Rejected(f"{field}: at most {limit} characters", code="text_too_long")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise Rejected(f"{field}: control characters are not allowed", code="invalid_text")
    return text
