"""SQL stores of accounts: one-time tokens and user changes (`SqlAccountStore`), TOTP secrets
and recovery codes (`SqlMfaStore`), the mail outbox (`SqlMailOutbox`).

Single-use is the database's: a token is consumed, a recovery code used, a TOTP step
advanced by one conditional UPDATE, so two concurrent requests cannot both win. Stores
digests and sealed secrets only; the outbox holds message bodies (they may carry a one-time
token) until a relay marks them sent.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables as t
from tradehall.adapters.sql import tables_accounts as ta
from tradehall.adapters.sql.identity import SqlIdentityStore
from tradehall.identity.account_store import OneTimeToken, TokenPurpose
from tradehall.identity.mail import MailMessage, OutboxEntry
from tradehall.identity.mfa import TotpRecord
from tradehall.identity.ports import UserRecord, UserState
from tradehall.kernel.clock import Clock
from tradehall.kernel.errors import Conflict
from tradehall.kernel.ids import random_uuid


class _Sql:
    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._writer = engine if writer is None else writer


class SqlAccountStore(_Sql):
    """One-time tokens and the changes `UserService` makes to users."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        super().__init__(engine, writer)
        self._users = SqlIdentityStore(engine, writer)

    async def add_token(self, token: OneTimeToken) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(insert(ta.account_tokens), {
                "token_hash": token.token_hash, "purpose": token.purpose,
                "user_id": token.user_id, "created_ns": token.created_ns,
                "expires_ns": token.expires_ns, "used_ns": token.used_ns})

    async def consume_token(self, token_hash: str, purpose: TokenPurpose,
                            now_ns: int) -> OneTimeToken | None:
        tok = ta.account_tokens
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(tok).where(tok.c.token_hash == token_hash, tok.c.purpose == purpose,
                                  tok.c.used_ns.is_(None), tok.c.expires_ns > now_ns)
                .values(used_ns=now_ns))
            if done.rowcount != 1:
                return None
            row = (await conn.execute(select(tok).where(tok.c.token_hash == token_hash))
                   ).mappings().one()
        return OneTimeToken(token_hash=row["token_hash"], purpose=row["purpose"],
                            user_id=row["user_id"], created_ns=row["created_ns"],
                            expires_ns=row["expires_ns"], used_ns=row["used_ns"])

    async def revoke_tokens(self, user_id: str, purpose: TokenPurpose, now_ns: int) -> int:
        tok = ta.account_tokens
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(tok).where(tok.c.user_id == user_id, tok.c.purpose == purpose,
                                  tok.c.used_ns.is_(None)).values(used_ns=now_ns))
        return int(done.rowcount)

    async def get_user_by_email(self, email: str) -> UserRecord | None:
        return await self._users._user(t.users.c.email == email)

    async def set_state(self, user_id: str, state: UserState, *,
                        email_verified: bool | None = None) -> UserRecord | None:
        values: dict[str, Any] = {"state": state}
        if email_verified is not None:
            values["email_verified"] = email_verified
        return await self._update(user_id, values)

    async def set_roles(self, user_id: str, roles: list[str]) -> UserRecord | None:
        return await self._update(user_id, {"roles": list(roles)})

    async def set_password(self, user_id: str, password_hash: str,
                           changed_ns: int) -> UserRecord | None:
        return await self._update(user_id, {"password_hash": password_hash,
                                            "password_changed_ns": changed_ns})

    async def set_lockout(self, user_id: str, failed_logins: int,
                          locked_until_ns: int | None) -> None:
        await self._update(user_id, {"failed_logins": failed_logins,
                                     "locked_until_ns": locked_until_ns}, fetch=False)

    async def set_mfa_enabled(self, user_id: str, enabled: bool) -> None:
        await self._update(user_id, {"mfa_enabled": enabled}, fetch=False)

    async def _update(self, user_id: str, values: dict[str, Any], *,
                      fetch: bool = True) -> UserRecord | None:
        async with self._writer.begin() as conn:
            done = await conn.execute(update(t.users).where(t.users.c.user_id == user_id)
                                      .values(**values))
        if done.rowcount != 1 or not fetch:
            return None
        return await self._users.get_user(user_id)


class SqlMfaStore(_Sql):
    """TOTP secrets (sealed blobs, base64 in a text column) and recovery code digests."""

    async def get_totp(self, user_id: str) -> TotpRecord | None:
        sec = ta.totp_secrets
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(sec).where(sec.c.user_id == user_id))
                   ).mappings().first()
        if row is None:
            return None
        return TotpRecord(user_id=row["user_id"],
                          secret_sealed=base64.b64decode(row["secret_sealed"]),
                          confirmed=bool(row["confirmed"]), created_ns=row["created_ns"],
                          last_step=row["last_step"])

    async def put_totp(self, record: TotpRecord) -> None:
        """Store an unconfirmed enrolment; raise Conflict (`mfa_already_enabled`)."""
        sec = ta.totp_secrets
        try:
            async with self._writer.begin() as conn:
                await conn.execute(delete(sec).where(sec.c.user_id == record.user_id,
                                                     ~sec.c.confirmed))
                await conn.execute(insert(sec), {
                    "user_id": record.user_id,
                    "secret_sealed": base64.b64encode(record.secret_sealed).decode(),
                    "confirmed": record.confirmed, "last_step": record.last_step,
                    "created_ns": record.created_ns})
        except IntegrityError as exc:
            raise Conflict("two-factor authentication is already enabled",
                           code="mfa_already_enabled") from exc

    async def confirm_totp(self, user_id: str, step: int, code_hashes: list[str]) -> bool:
        sec, rec = ta.totp_secrets, ta.recovery_codes
        async with self._writer.begin() as conn:
            done = await conn.execute(update(sec).where(sec.c.user_id == user_id,
                                                        ~sec.c.confirmed)
                                      .values(confirmed=True, last_step=step))
            if done.rowcount != 1:
                return False
            await conn.execute(delete(rec).where(rec.c.user_id == user_id))
            await conn.execute(insert(rec), [{"user_id": user_id, "code_hash": h,
                                              "used_ns": None} for h in code_hashes])
        return True

    async def advance_step(self, user_id: str, step: int) -> bool:
        sec = ta.totp_secrets
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(sec).where(sec.c.user_id == user_id, sec.c.confirmed,
                                  sec.c.last_step.is_(None) | (sec.c.last_step < step))
                .values(last_step=step))
        return bool(done.rowcount == 1)

    async def use_recovery_code(self, user_id: str, code_hash: str, now_ns: int) -> bool:
        rec = ta.recovery_codes
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(rec).where(rec.c.user_id == user_id, rec.c.code_hash == code_hash,
                                  rec.c.used_ns.is_(None)).values(used_ns=now_ns))
        return bool(done.rowcount == 1)

    async def recovery_codes_left(self, user_id: str) -> int:
        rec = ta.recovery_codes
        async with self._engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(rec).where(
                rec.c.user_id == user_id, rec.c.used_ns.is_(None)))).scalar_one()
        return int(count)

    async def delete_totp(self, user_id: str) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(delete(ta.recovery_codes)
                               .where(ta.recovery_codes.c.user_id == user_id))
            await conn.execute(delete(ta.totp_secrets)
                               .where(ta.totp_secrets.c.user_id == user_id))


class SqlMailOutbox(_Sql):
    """A `MailOutbox` in the database: messages wait until a relay marks them sent."""

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None, *,
                 clock: Clock) -> None:
        super().__init__(engine, writer)
        self._clock = clock

    async def send(self, message: MailMessage) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(insert(ta.mail_outbox), {
                "mail_id": random_uuid(), "kind": message.kind, "to_address": message.to,
                "subject": message.subject[:200], "body": message.body,
                "created_ns": self._clock.now_ns(), "sent_ns": None})

    async def pending(self, *, to: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        box = ta.mail_outbox
        query = select(box).where(box.c.sent_ns.is_(None))
        if to is not None:
            query = query.where(box.c.to_address == to)
        query = query.order_by(box.c.created_ns, box.c.mail_id).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [OutboxEntry(mail_id=r["mail_id"], created_ns=r["created_ns"],
                            sent_ns=r["sent_ns"],
                            message=MailMessage(kind=r["kind"], to=r["to_address"],
                                                subject=r["subject"], body=r["body"]))
                for r in rows]

    async def mark_sent(self, mail_id: str) -> bool:
        box = ta.mail_outbox
        async with self._writer.begin() as conn:
            done = await conn.execute(update(box).where(box.c.mail_id == mail_id,
                                                        box.c.sent_ns.is_(None))
                                      .values(sent_ns=self._clock.now_ns()))
        return bool(done.rowcount == 1)
