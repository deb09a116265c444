"""`SqlExternalLinkStore`: provider subjects linked to tradehall users, in the read-model
database (the `ExternalLinkStore` of `identity/external.py`)."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql.tables_external import external_identities as links
from tradehall.identity.external import ExternalLink
from tradehall.kernel.errors import Conflict


class SqlExternalLinkStore:
    """Links of (issuer, subject) to a user id."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._writer = engine if writer is None else writer

    async def get_link(self, issuer: str, subject: str) -> ExternalLink | None:
        c = links.c
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(links).where(c.issuer == issuer,
                                                          c.subject == subject))
                   ).mappings().first()
        if row is None:
            return None
        return ExternalLink(issuer=row["issuer"], subject=row["subject"],
                            user_id=row["user_id"], created_ns=row["created_ns"])

    async def add_link(self, link: ExternalLink) -> None:
        """Store a link; raise Conflict (`external_identity_linked`) when it exists."""
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(links), {
                    "issuer": link.issuer, "subject": link.subject, "user_id": link.user_id,
                    "created_ns": link.created_ns})
        except IntegrityError as exc:
            raise Conflict("this identity provider user is linked already",
                           code="external_identity_linked") from exc
