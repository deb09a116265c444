"""The error tree, named for how the caller should react.

- `Rejected`: a business rule or bad input refused the request; answer 4xx, change nothing.
  `InvalidInput` is the subclass for malformed values (field named, reason code given).
- `NotFound`: the thing named does not exist (or is not the caller's to see).
- `Conflict`: the request clashes with current state (duplicate id with other content).
- `Unauthorized`: no valid credentials were presented (answer 401).
- `Forbidden`: the credentials are valid but do not allow this (answer 403).
- `TooManyRequests`: too many attempts; retry after `retry_after_s` seconds (answer 429).
- `TemporaryError`: retry with backoff.
- `InvariantViolation`: a bug or corrupted state; crash, never caught below the process top.

Every error carries a stable machine-readable `code` (snake_case) and a human `message`.
"""

from __future__ import annotations


class TradehallError(Exception):
    """Base of every error tradehall raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Rejected(TradehallError):
    """A business rule refused the request."""

    code = "rejected"


class InvalidInput(Rejected):
    """A value given at the edge is malformed or out of range."""

    code = "invalid_input"

    def __init__(self, field: str, message: str, *, code: str = "invalid_input") -> None:
        super().__init__(f"{field}: {message}", code=code)
        self.field = field


class NotFound(TradehallError):
    """The named object does not exist."""

    code = "not_found"


class Conflict(TradehallError):
    """The request clashes with the current state."""

    code = "conflict"


class Unauthorized(TradehallError):
    """No valid credentials were presented."""

    code = "unauthorized"


class Forbidden(TradehallError):
    """The caller is known but may not do this."""

    code = "forbidden"


class TooManyRequests(TradehallError):
    """Too many attempts in too short a time; retry after `retry_after_s` seconds."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = max(1, retry_after_s)


class TemporaryError(TradehallError):
    """A transient failure; the caller should retry with backoff."""

    code = "temporary"


class InvariantViolation(TradehallError):
    """An invariant of the system was broken: stop the process."""

    code = "invariant_violation"
