"""`SqlApiKeyStore`: API keys in the read-model database (hashes of the secrets only).

A key and its sealed request-signing key (`tables_keys.api_key_signing`) are written in one
transaction, so a key never exists without the signing key its owner was told to use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql import tables_keys as tk
from tradehall.identity.ports import ApiKeyRecord
from tradehall.kernel.errors import Conflict, NotFound


class SqlApiKeyStore:
    """API keys; `SqlIdentityStore` adds the users."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._writer = engine if writer is None else writer

    async def add_api_key(self, key: ApiKeyRecord, sealed_signing_key: bytes | None = None,
                          key_wrapping: str = "") -> None:
        """Store a key (and its sealed signing key); raise NotFound (`unknown_user`) or
        Conflict (`api_key_exists`)."""
        row = {"key_id": key.key_id, "secret_hash": key.secret_hash, "user_id": key.user_id,
               "label": key.label, "created_ns": key.created_ns, "revoked": key.revoked,
               "scopes": list(key.scopes), "ip_allow": list(key.ip_allow),
               "last_used_ns": key.last_used_ns}
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(t.api_keys), row)
                if sealed_signing_key is not None:
                    await conn.execute(insert(tk.api_key_signing), {
                        "key_id": key.key_id, "sealed_key": sealed_signing_key,
                        "key_wrapping": key_wrapping, "created_ns": key.created_ns})
        except IntegrityError as exc:
            async with self._engine.connect() as conn:
                owner = (await conn.execute(select(t.users.c.user_id)
                                            .where(t.users.c.user_id == key.user_id))).first()
            if owner is None:
                raise NotFound(f"user {key.user_id} does not exist",
                               code="unknown_user") from exc
            raise Conflict(f"API key {key.key_id} exists", code="api_key_exists") from exc

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == key_id))
                   ).mappings().first()
        return None if row is None else _key(row)

    async def get_sealed_signing_key(self, key_id: str) -> bytes | None:
        """Return a key's sealed request-signing key (None for keys made before 0005)."""
        s = tk.api_key_signing.c
        async with self._engine.connect() as conn:
            value = (await conn.execute(select(s.sealed_key).where(s.key_id == key_id))
                     ).scalar()
        return None if value is None else bytes(value)

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """Return a user's keys, revoked ones included, oldest first."""
        k = t.api_keys.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.api_keys).where(k.user_id == user_id)
                                       .order_by(k.created_ns, k.key_id))).mappings()
            return [_key(row) for row in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; False when no such key exists."""
        async with self._writer.begin() as conn:
            result = await conn.execute(update(t.api_keys).where(t.api_keys.c.key_id == key_id)
                                        .values(revoked=True))
        return bool(result.rowcount)

    async def touch_api_key(self, key_id: str, used_ns: int) -> None:
        """Record when a key was last used (never moves backwards)."""
        k = t.api_keys.c
        async with self._writer.begin() as conn:
            await conn.execute(update(t.api_keys)
                               .where(k.key_id == key_id)
                               .where((k.last_used_ns.is_(None)) | (k.last_used_ns < used_ns))
                               .values(last_used_ns=used_ns))


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(key_id=row["key_id"], secret_hash=row["secret_hash"],
                        user_id=row["user_id"], label=row["label"],
                        created_ns=row["created_ns"], revoked=bool(row["revoked"]),
                        scopes=list(row["scopes"]), ip_allow=list(row["ip_allow"]),
                        last_used_ns=row["last_used_ns"])
