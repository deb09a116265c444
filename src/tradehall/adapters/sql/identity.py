"""`SqlIdentityStore`: users and API keys in the read-model database.

Unlike the projections, these rows are written directly by the service (they are not engine
events). Uniqueness is the database's: a taken username is a `Conflict` raised from the unique
constraint, so two concurrent sign-ups cannot both win. Stores hashes only, never a secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables as t
from tradehall.kernel.errors import Conflict, NotFound
from tradehall.kernel.ids import AccountId
from tradehall.service.ports import ApiKeyRecord, UserRecord


class SqlIdentityStore:
    """Users and their API keys."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._writer = engine if writer is None else writer

    async def add_user(self, user: UserRecord) -> None:
        """Store a new user; raise Conflict (`username_taken`, `user_exists`) on a duplicate."""
        row = {"user_id": user.user_id, "username": user.username,
               "password_hash": user.password_hash, "account": user.account,
               "roles": list(user.roles), "created_ns": user.created_ns}
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(t.users), row)
        except IntegrityError as exc:
            if await self.get_user_by_username(user.username) is not None:
                raise Conflict(f"username {user.username!r} is taken",
                               code="username_taken") from exc
            raise Conflict(f"user {user.user_id} exists", code="user_exists") from exc

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._user(t.users.c.user_id == user_id)

    async def get_user_by_username(self, username: str) -> UserRecord | None:
        return await self._user(t.users.c.username == username)

    async def list_users(self) -> list[UserRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.users).order_by(t.users.c.created_ns,
                                                                t.users.c.username))).mappings()
            return [_user(row) for row in rows]

    async def add_api_key(self, key: ApiKeyRecord) -> None:
        """Store a key; raise NotFound (`unknown_user`) or Conflict (`api_key_exists`)."""
        row = {"key_id": key.key_id, "secret_hash": key.secret_hash, "user_id": key.user_id,
               "label": key.label, "created_ns": key.created_ns, "revoked": key.revoked}
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(t.api_keys), row)
        except IntegrityError as exc:
            if await self.get_user(key.user_id) is None:
                raise NotFound(f"user {key.user_id} does not exist",
                               code="unknown_user") from exc
            raise Conflict(f"API key {key.key_id} exists", code="api_key_exists") from exc

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == key_id))
                   ).mappings().first()
        return None if row is None else ApiKeyRecord(**row)

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]:
        """Return a user's keys, revoked ones included, oldest first."""
        k = t.api_keys.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.api_keys).where(k.user_id == user_id)
                                       .order_by(k.created_ns, k.key_id))).mappings()
            return [ApiKeyRecord(**row) for row in rows]

    async def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; False when no such key exists."""
        async with self._writer.begin() as conn:
            result = await conn.execute(update(t.api_keys).where(t.api_keys.c.key_id == key_id)
                                        .values(revoked=True))
        return bool(result.rowcount)

    async def _user(self, clause: Any) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.users).where(clause))).mappings().first()
        return None if row is None else _user(row)


def _user(row: Any) -> UserRecord:
    return UserRecord(user_id=row["user_id"], username=row["username"],
                      password_hash=row["password_hash"], account=AccountId(row["account"]),
                      roles=list(row["roles"]), created_ns=row["created_ns"])
