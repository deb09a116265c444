"""`SqlIdentityStore`: users (and, through `SqlApiKeyStore`, API keys) in the read-model
database.

Unlike the projections, these rows are written directly by the service (they are not engine
events). Uniqueness is the database's: a taken username is a `Conflict` raised from the unique
constraint, so two concurrent sign-ups cannot both win. Stores hashes only, never a secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql.api_keys import SqlApiKeyStore
from tradehall.identity.ports import UserRecord
from tradehall.kernel.errors import Conflict
from tradehall.kernel.ids import AccountId


class SqlIdentityStore(SqlApiKeyStore):
    """Users (and, inherited, their API keys)."""

    async def add_user(self, user: UserRecord) -> None:
        """Store a new user; raise Conflict (`username_taken`, `user_exists`) on a duplicate."""
        row = {"user_id": user.user_id, "username": user.username,
               "password_hash": user.password_hash, "account": user.account,
               "roles": list(user.roles), "created_ns": user.created_ns,
               "email": user.email, "email_verified": user.email_verified, "state": user.state,
               "failed_logins": user.failed_logins, "locked_until_ns": user.locked_until_ns,
               "mfa_enabled": user.mfa_enabled,
               "password_changed_ns": user.password_changed_ns}
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

    async def _user(self, clause: Any) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.users).where(clause))).mappings().first()
        return None if row is None else _user(row)


def _user(row: Any) -> UserRecord:
    return UserRecord(user_id=row["user_id"], username=row["username"],
                      password_hash=row["password_hash"], account=AccountId(row["account"]),
                      roles=list(row["roles"]), created_ns=row["created_ns"],
                      email=row["email"], email_verified=bool(row["email_verified"]),
                      state=row["state"], failed_logins=row["failed_logins"],
                      locked_until_ns=row["locked_until_ns"],
                      mfa_enabled=bool(row["mfa_enabled"]),
                      password_changed_ns=row["password_changed_ns"])
