"""`SessionService`: login sessions, refresh-token families, devices, and the `SessionStore` port.

A login opens a session (user agent, IP, device) and hands out a random refresh token, of
which only the SHA-256 is stored. Every refresh spends the token and issues the next one of
the same family (the session); presenting a spent token again means it was copied, so the
whole family is revoked and the event audited. Logout ends the current session, revoke-all
every session of the user. A session's access tokens stop working the moment it is revoked:
the ids of recently revoked sessions are kept in memory (loaded at start, updated on revoke,
re-read by `maintain`), so checking costs no query per request. Every revocation is also
published as a `Revocation` notice (`identity/revocation.py`): other processes add it to their
set at once when the notices are shared (Redis), else at their next `maintain`.

Devices are fingerprinted by user agent and network (IPv4 /24, IPv6 /64); a login from an
unseen device of a user who has signed in before raises a `new_device` alert.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import NoReturn, Protocol

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.identity.alerts import AlertService
from tradehall.identity.context import RequestContext
from tradehall.identity.ports import UserRecord
from tradehall.identity.revocation import Revocation, RevocationNotices
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import NotFound, Unauthorized
from tradehall.kernel.ids import random_token, random_uuid

MAX_REFRESH_TOKEN_CHARS = 256


class SessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str  # UUID; also the id of the refresh-token family
    user_id: str
    device_id: str
    ip: str
    user_agent: str
    created_ns: int
    last_seen_ns: int
    expires_ns: int
    """When the newest refresh token expires (slides with each refresh)."""
    revoked_ns: int | None = None
    revoked_reason: str | None = None


class RefreshTokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    token_hash: str  # sha256 hex
    session_id: str
    created_ns: int
    expires_ns: int
    used_ns: int | None = None


class DeviceRecord(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    user_id: str
    fingerprint: str  # sha256 hex of user agent and network
    user_agent: str
    ip: str
    first_seen_ns: int
    last_seen_ns: int


class SessionStore(Protocol):
    """Sessions, their refresh tokens and the users' devices."""

    async def add_session(self, session: SessionRecord, refresh: RefreshTokenRecord) -> None: ...

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(self, user_id: str, *, active_at_ns: int) -> list[SessionRecord]:
        """The user's sessions neither revoked nor expired at that time, newest first."""
        ...

    async def get_refresh_token(self, token_hash: str) -> RefreshTokenRecord | None: ...

    async def rotate_refresh_token(self, used_hash: str, new: RefreshTokenRecord,
                                   ip: str, user_agent: str) -> bool:
        """Atomically spend an unspent token, store its successor and touch the session.

        Return False (and change nothing) when the token was already spent.
        """
        ...

    async def revoke_session(self, session_id: str, revoked_ns: int, reason: str) -> bool:
        """Revoke a session; False when it does not exist or was already revoked."""
        ...

    async def revoke_user_sessions(self, user_id: str, revoked_ns: int,
                                   reason: str) -> list[str]:
        """Revoke every live session of a user; return their ids."""
        ...

    async def revoked_since(self, since_ns: int) -> list[tuple[str, int]]:
        """(session id, revoked_ns) of sessions revoked at or after that time."""
        ...

    async def drop_refresh_tokens(self, expired_before_ns: int) -> int:
        """Remove refresh tokens (spent or not) that expired before that time."""
        ...

    async def find_device(self, user_id: str, fingerprint: str) -> DeviceRecord | None: ...

    async def has_devices(self, user_id: str) -> bool: ...

    async def add_device(self, device: DeviceRecord) -> DeviceRecord:
        """Store a device; return the stored one (an existing same fingerprint wins)."""
        ...

    async def touch_device(self, device_id: str, seen_ns: int, ip: str) -> None: ...


class SessionConfig(msgspec.Struct, frozen=True, kw_only=True):
    refresh_ttl_s: int = 14 * 86_400
    prune_every_s: int = 3_600
    """How often expired refresh tokens are removed (spent ones are kept until they expire,
    so a copied token is recognised as reused while it could still work)."""
    access_ttl_s: int = 900
    """How long a revoked session's access tokens could still be presented."""
    leeway_s: int = 5


class OpenedSession(msgspec.Struct, frozen=True, kw_only=True):
    session: SessionRecord
    refresh_token: str
    refresh_expires_in: int
    new_device: bool


class SessionService:
    """Opens, refreshes, lists and revokes sessions."""

    def __init__(self, store: SessionStore, clock: Clock, audit: AuditLog,
                 alerts: AlertService, config: SessionConfig | None = None, *,
                 notices: RevocationNotices | None = None) -> None:
        self.store = store
        self._clock = clock
        self._audit = audit
        self._alerts = alerts
        self.config = config or SessionConfig()
        self._notices = notices
        self._revoked: dict[str, int] = {}
        self._loaded_ns: int | None = None
        self._pruned_ns: int | None = None

    # -- Revocation cache -----------------------------------------------------------------------

    async def load(self) -> None:
        """Read the sessions revoked recently enough for their access tokens to be live."""
        await self.maintain()

    async def maintain(self) -> None:
        """Pick up revocations made elsewhere and forget those no token can outlive."""
        now = await self._read_revoked(full=self._loaded_ns is None)
        if self._pruned_ns is None or now - self._pruned_ns >= (self.config.prune_every_s
                                                                 * NANOS_PER_SECOND):
            await self.store.drop_refresh_tokens(now)
            self._pruned_ns = now

    async def _read_revoked(self, *, full: bool) -> int:
        now = self._clock.now_ns()
        window = (self.config.access_ttl_s + 2 * self.config.leeway_s) * NANOS_PER_SECOND
        since = now - window if full or self._loaded_ns is None else (
            self._loaded_ns - NANOS_PER_SECOND)
        for session_id, revoked_ns in await self.store.revoked_since(since):
            self._revoked[session_id] = revoked_ns
        self._revoked = {s: t for s, t in self._revoked.items() if t >= now - window}
        self._loaded_ns = now
        return now

    def is_revoked(self, session_id: str) -> bool:
        """Whether a session's access tokens were revoked (in memory, no query)."""
        return session_id in self._revoked

    # -- Notices (a `RevocationListener`) -------------------------------------------------------

    def revoked(self, notice: Revocation) -> None:
        """Take a session revoked by another process into the set at once."""
        if notice.kind == "session":
            self._revoked.setdefault(notice.subject, notice.ts_ns)

    async def resync(self) -> None:
        """Re-read the whole window: notices may have been missed, and another machine's
        clock may stamp a revocation before this process's last incremental read."""
        await self._read_revoked(full=True)

    async def _publish(self, session_ids: list[str], revoked_ns: int) -> None:
        if self._notices is not None:
            for session_id in session_ids:
                await self._notices.publish(Revocation(kind="session", subject=session_id,
                                                       ts_ns=revoked_ns))

    # -- Lifecycle ------------------------------------------------------------------------------

    async def open(self, user: UserRecord, ctx: RequestContext) -> OpenedSession:
        """Open a session for a user who has just proven who they are."""
        now = self._clock.now_ns()
        device, new_device = await self._device(user.user_id, ctx, now)
        token = random_token(32)
        ttl = self.config.refresh_ttl_s * NANOS_PER_SECOND
        session = SessionRecord(session_id=random_uuid(), user_id=user.user_id,
                                device_id=device.device_id, ip=ctx.ip[:64],
                                user_agent=ctx.user_agent[:512], created_ns=now,
                                last_seen_ns=now, expires_ns=now + ttl)
        await self.store.add_session(session, RefreshTokenRecord(
            token_hash=hash_token(token), session_id=session.session_id, created_ns=now,
            expires_ns=now + ttl))
        return OpenedSession(session=session, refresh_token=token,
                             refresh_expires_in=self.config.refresh_ttl_s, new_device=new_device)

    async def refresh(self, token: str, ctx: RequestContext) -> OpenedSession:
        """Spend a refresh token for its successor; a spent one revokes its whole family."""
        if not token or len(token) > MAX_REFRESH_TOKEN_CHARS:
            raise _invalid_refresh()
        token_hash = hash_token(token)
        record = await self.store.get_refresh_token(token_hash)
        session = None if record is None else await self.store.get_session(record.session_id)
        if record is None or session is None or session.revoked_ns is not None:
            raise _invalid_refresh()
        now = self._clock.now_ns()
        if record.used_ns is None and (record.expires_ns <= now or session.expires_ns <= now):
            raise Unauthorized("the refresh token has expired; log in again",
                               code="refresh_token_expired")
        new_token = random_token(32)
        ttl = self.config.refresh_ttl_s * NANOS_PER_SECOND
        successor = RefreshTokenRecord(token_hash=hash_token(new_token),
                                       session_id=session.session_id, created_ns=now,
                                       expires_ns=now + ttl)
        if record.used_ns is not None or not await self.store.rotate_refresh_token(
                token_hash, successor, ctx.ip[:64], ctx.user_agent[:512]):
            await self._family_reused(session, ctx)
        renewed = msgspec.structs.replace(session, last_seen_ns=now, expires_ns=now + ttl,
                                          ip=ctx.ip[:64], user_agent=ctx.user_agent[:512])
        return OpenedSession(session=renewed, refresh_token=new_token,
                             refresh_expires_in=self.config.refresh_ttl_s, new_device=False)

    async def revoke(self, session_id: str, *, actor: str | None, ctx: RequestContext,
                     reason: str = "logout") -> bool:
        """Revoke a session (its access tokens at once); False when already ended."""
        now = self._clock.now_ns()
        done = await self.store.revoke_session(session_id, now, reason)
        if done:
            self._revoked[session_id] = now
            await self._publish([session_id], now)
            action = "auth.logout" if reason == "logout" else "auth.session_revoked"
            await self._audit.record(action, actor=actor, target=session_id,
                                     ip=ctx.ip, user_agent=ctx.user_agent,
                                     detail={"reason": reason})
        return done

    async def revoke_own(self, user_id: str, session_id: str, ctx: RequestContext) -> None:
        """Revoke one of the user's own sessions; NotFound for anyone else's."""
        session = await self.store.get_session(session_id) if len(session_id) <= 64 else None
        if session is None or session.user_id != user_id:
            raise NotFound(f"session {session_id} not found", code="session_not_found")
        await self.revoke(session_id, actor=user_id, ctx=ctx, reason="revoked")

    async def revoke_all(self, user_id: str, *, actor: str | None, ctx: RequestContext,
                         reason: str = "logout_all") -> list[str]:
        """Revoke every live session of a user; return their ids."""
        now = self._clock.now_ns()
        ids = await self.store.revoke_user_sessions(user_id, now, reason)
        for session_id in ids:
            self._revoked[session_id] = now
        await self._publish(ids, now)
        action = "auth.logout_all" if reason == "logout_all" else "auth.sessions_revoked"
        await self._audit.record(action, actor=actor, target=user_id,
                                 ip=ctx.ip, user_agent=ctx.user_agent,
                                 detail={"reason": reason, "sessions": ids})
        return ids

    async def list_own(self, user_id: str) -> list[SessionRecord]:
        """The user's live sessions, newest first."""
        return await self.store.list_sessions(user_id, active_at_ns=self._clock.now_ns())

    # -- Internals ------------------------------------------------------------------------------

    async def _family_reused(self, session: SessionRecord, ctx: RequestContext) -> NoReturn:
        now = self._clock.now_ns()
        if await self.store.revoke_session(session.session_id, now, "refresh_reused"):
            self._revoked[session.session_id] = now
            await self._publish([session.session_id], now)
        await self._audit.record("auth.refresh_reused", actor=session.user_id,
                                 target=session.session_id, ip=ctx.ip,
                                 user_agent=ctx.user_agent, outcome="denied",
                                 detail={"session_id": session.session_id})
        raise Unauthorized("the refresh token was already used: the session is revoked",
                           code="refresh_token_reused")

    async def _device(self, user_id: str, ctx: RequestContext,
                      now: int) -> tuple[DeviceRecord, bool]:
        fingerprint = device_fingerprint(ctx)
        device = await self.store.find_device(user_id, fingerprint)
        if device is not None:
            await self.store.touch_device(device.device_id, now, ctx.ip[:64])
            return device, False
        first = not await self.store.has_devices(user_id)
        device = await self.store.add_device(DeviceRecord(
            device_id=random_uuid(), user_id=user_id, fingerprint=fingerprint,
            user_agent=ctx.user_agent[:512], ip=ctx.ip[:64], first_seen_ns=now,
            last_seen_ns=now))
        await self._audit.record("auth.new_device", actor=user_id, target=device.device_id,
                                 ip=ctx.ip, user_agent=ctx.user_agent,
                                 detail={"device_id": device.device_id, "first": first})
        if not first:
            await self._alerts.raise_alert(
                user_id, "new_device", "New sign-in from a device not seen before",
                f"{ctx.device} from {ctx.ip or 'an unknown address'}")
        return device, True


def hash_token(token: str) -> str:
    """SHA-256 hex of a random token (random, so no salt or slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def device_fingerprint(ctx: RequestContext) -> str:
    """A device: the user agent and the network it came from (IPv4 /24, IPv6 /64)."""
    try:
        address = ipaddress.ip_address(ctx.ip)
    except ValueError:
        network = ctx.ip[:64]
    else:
        prefix = 24 if address.version == 4 else 64
        network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return hashlib.sha256(f"{ctx.user_agent}\n{network}".encode("utf-8", "surrogatepass")
                          ).hexdigest()


def _invalid_refresh() -> Unauthorized:
    return Unauthorized("the refresh token is not valid", code="invalid_refresh_token")
