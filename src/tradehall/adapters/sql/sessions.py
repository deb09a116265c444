"""SQL stores of the sessions part: `SqlSessionStore` (sessions, refresh tokens, devices),
`SqlSigningKeyStore` (the access-token key ring) and `SqlAlertStore` (user alerts).

Rows are written directly by the identity services. A refresh token is spent with a
conditional UPDATE (`used_ns IS NULL`) in the same transaction that stores its successor, so
two concurrent refreshes with one token cannot both win. Stores hashes of tokens only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tradehall.adapters.sql import tables_sessions as t
from tradehall.identity.alerts import AlertRecord
from tradehall.identity.sessions import DeviceRecord, RefreshTokenRecord, SessionRecord
from tradehall.identity.tokens import SigningKeyRecord


class _Store:
    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._writer = engine if writer is None else writer


class SqlSessionStore(_Store):
    """Sessions, refresh-token families and devices."""

    async def add_session(self, session: SessionRecord, refresh: RefreshTokenRecord) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(insert(t.sessions), _fields(session))
            await conn.execute(insert(t.refresh_tokens), _fields(refresh))

    async def get_session(self, session_id: str) -> SessionRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.sessions)
                                      .where(t.sessions.c.session_id == session_id))
                   ).mappings().first()
        return None if row is None else SessionRecord(**row)

    async def list_sessions(self, user_id: str, *, active_at_ns: int) -> list[SessionRecord]:
        s = t.sessions.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(t.sessions).where(s.user_id == user_id, s.revoked_ns.is_(None),
                                         s.expires_ns > active_at_ns)
                .order_by(s.created_ns.desc(), s.session_id))).mappings()
            return [SessionRecord(**row) for row in rows]

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.refresh_tokens)
                                      .where(t.refresh_tokens.c.token_hash == token_hash))
                   ).mappings().first()
        return None if row is None else RefreshTokenRecord(**row)

    async def rotate_refresh_token(self, used_hash: str, new: RefreshTokenRecord,
                                   ip: str, user_agent: str) -> bool:
        r = t.refresh_tokens.c
        async with self._writer.begin() as conn:
            spent = await conn.execute(update(t.refresh_tokens)
                                       .where(r.token_hash == used_hash, r.used_ns.is_(None))
                                       .values(used_ns=new.created_ns))
            if spent.rowcount != 1:
                return False
            await conn.execute(insert(t.refresh_tokens), _fields(new))
            await conn.execute(update(t.sessions)
                               .where(t.sessions.c.session_id == new.session_id)
                               .values(last_seen_ns=new.created_ns, expires_ns=new.expires_ns,
                                       ip=ip, user_agent=user_agent))
        return True

    async def revoke_session(self, session_id: str, revoked_ns: int, reason: str) -> bool:
        s = t.sessions.c
        async with self._writer.begin() as conn:
            result = await conn.execute(update(t.sessions)
                                        .where(s.session_id == session_id, s.revoked_ns.is_(None))
                                        .values(revoked_ns=revoked_ns, revoked_reason=reason))
        return bool(result.rowcount)

    async def revoke_user_sessions(self, user_id: str, revoked_ns: int,
                                   reason: str) -> list[str]:
        s = t.sessions.c
        async with self._writer.begin() as conn:
            ids = list((await conn.execute(select(s.session_id).where(
                s.user_id == user_id, s.revoked_ns.is_(None)))).scalars())
            if ids:
                await conn.execute(update(t.sessions)
                                   .where(s.session_id.in_(ids), s.revoked_ns.is_(None))
                                   .values(revoked_ns=revoked_ns, revoked_reason=reason))
        return ids

    async def revoked_since(self, since_ns: int) -> list[tuple[str, int]]:
        s = t.sessions.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(s.session_id, s.revoked_ns)
                                      .where(s.revoked_ns >= since_ns))
            return [(row[0], int(row[1])) for row in rows]

    async def drop_refresh_tokens(self, expired_before_ns: int) -> int:
        async with self._writer.begin() as conn:
            result = await conn.execute(delete(t.refresh_tokens).where(
                t.refresh_tokens.c.expires_ns < expired_before_ns))
        return int(result.rowcount or 0)

    async def find_device(self, user_id: str, fingerprint: str) -> DeviceRecord | None:
        d = t.devices.c
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.devices).where(
                d.user_id == user_id, d.fingerprint == fingerprint))).mappings().first()
        return None if row is None else DeviceRecord(**row)

    async def has_devices(self, user_id: str) -> bool:
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(exists().where(t.devices.c.user_id == user_id)))
                     ).scalar()
        return bool(found)

    async def add_device(self, device: DeviceRecord) -> DeviceRecord:
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(t.devices), _fields(device))
        except IntegrityError:
            # A concurrent login from the same device stored it first.
            existing = await self.find_device(device.user_id, device.fingerprint)
            if existing is None:
                raise
            return existing
        return device

    async def touch_device(self, device_id: str, seen_ns: int, ip: str) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(update(t.devices).where(t.devices.c.device_id == device_id)
                               .values(last_seen_ns=seen_ns, ip=ip))


class SqlSigningKeyStore(_Store):
    """The key ring of access tokens."""

    async def list_signing_keys(self) -> list[SigningKeyRecord]:
        k = t.signing_keys.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.signing_keys)
                                       .order_by(k.created_ns, k.kid))).mappings()
            return [SigningKeyRecord(**row) for row in rows]

    async def add_signing_key(self, key: SigningKeyRecord) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(insert(t.signing_keys), _fields(key))

    async def retire_signing_keys(self, keep_kid: str, retired_ns: int,
                                  drop_after_ns: int) -> list[str]:
        k = t.signing_keys.c
        async with self._writer.begin() as conn:
            kids = list((await conn.execute(select(k.kid).where(
                k.kid != keep_kid, k.retired_ns.is_(None)))).scalars())
            if kids:
                await conn.execute(update(t.signing_keys).where(k.kid.in_(kids))
                                   .values(retired_ns=retired_ns, drop_after_ns=drop_after_ns))
        return kids

    async def drop_signing_keys(self, now_ns: int) -> int:
        k = t.signing_keys.c
        async with self._writer.begin() as conn:
            result = await conn.execute(delete(t.signing_keys).where(
                k.retired_ns.is_not(None), k.drop_after_ns < now_ns))
        return int(result.rowcount or 0)


class SqlAlertStore(_Store):
    """Alerts of users."""

    async def add_alert(self, alert: AlertRecord) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(insert(t.alerts), _fields(alert))

    async def list_alerts(self, user_id: str, *, unread_only: bool,
                          limit: int) -> list[AlertRecord]:
        a = t.alerts.c
        query = select(t.alerts).where(a.user_id == user_id)
        if unread_only:
            query = query.where(a.read_ns.is_(None))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(a.created_ns.desc(), a.alert_id.desc())
                                       .limit(limit))).mappings()
            return [AlertRecord(**row) for row in rows]

    async def mark_alert_read(self, user_id: str, alert_id: str, read_ns: int) -> bool:
        a = t.alerts.c
        async with self._writer.begin() as conn:
            owned = (await conn.execute(select(a.read_ns).where(
                a.alert_id == alert_id, a.user_id == user_id))).first()
            if owned is None:
                return False
            if owned[0] is None:
                await conn.execute(update(t.alerts).where(a.alert_id == alert_id)
                                   .values(read_ns=read_ns))
        return True

    async def mark_all_alerts_read(self, user_id: str, read_ns: int) -> int:
        a = t.alerts.c
        async with self._writer.begin() as conn:
            result = await conn.execute(update(t.alerts).where(
                a.user_id == user_id, a.read_ns.is_(None)).values(read_ns=read_ns))
        return int(result.rowcount or 0)


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__struct_fields__}
