"""The `Mailer` port: how identity sends e-mail (verification links, password resets).

Identity only composes messages; delivery is an adapter's job. The embedded adapter is an
outbox in the read-model database (`adapters/sql/accounts.py`): messages wait there until a
relay sends them, and in development `tradehall users outbox` shows them. A message body may
hold a one-time token, so bodies are never logged and an outbox entry is as sensitive as the
token it carries (short-lived, single-use).
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

MailKind = Literal["verify_email", "password_reset", "password_changed", "notice"]


class MailMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message to one address."""

    kind: MailKind
    to: str
    subject: str
    body: str


class OutboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A message as the outbox keeps it."""

    mail_id: str
    message: MailMessage
    created_ns: int
    sent_ns: int | None = None


class Mailer(Protocol):
    """Sends (or queues for sending) one message."""

    async def send(self, message: MailMessage) -> None: ...


class MailOutbox(Mailer, Protocol):
    """A mailer that keeps messages until they are delivered."""

    async def pending(self, *, to: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Messages not sent yet, oldest first (optionally only those to one address)."""
        ...

    async def mark_sent(self, mail_id: str) -> bool:
        """Record that a relay delivered a message; False when it is unknown or was sent."""
        ...
