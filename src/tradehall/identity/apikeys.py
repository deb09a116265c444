"""`ApiKeyService`: API keys: create, list, revoke, and check a key on every request.

A key is an Alpaca-style pair: a public key id (`TK` + 18 upper-case letters and digits) and a
random secret (240 bits) shown once. The store keeps a SHA-256 of the secret (it is random, so
a slow hash adds nothing) and, for signed requests, a signing key derived from the secret
(`signing.derive_signing_key`) sealed by the master key provider: the raw secret is never
stored. A key carries scopes (`read` always; `trade`, `withdraw` on request), an optional IP
allow-list of CIDR blocks, a label, and when it was last used.

Checked keys are cached per process (bounded, with a short time to live so that changes made
by another process show up); revoking a key evicts it at once here and publishes a
`Revocation` notice, on which other processes evict it too (at once when the notices are
shared through Redis). No I/O library is imported: the store and the key provider are ports.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import msgspec

from tradehall.compliance.audit import AuditLog
from tradehall.compliance.keys import KeyProvider, open_sealed, seal
from tradehall.identity.context import RequestContext
from tradehall.identity.ports import ApiKeyRecord, UserRecord
from tradehall.identity.principal import SCOPES, Principal
from tradehall.identity.revocation import Revocation, RevocationNotices
from tradehall.identity.signing import derive_signing_key
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import Forbidden, InvalidInput, NotFound, Unauthorized

_KEY_ALPHABET = string.ascii_uppercase + string.digits
MAX_KEY_ID = 64
MAX_LABEL = 128
MAX_IP_BLOCKS = 32
DEFAULT_SCOPES = ("read", "trade")
_INVALID = "unknown API key or wrong secret"

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ApiKeyPair(msgspec.Struct, frozen=True):
    """A new key: the id and the secret (the only time the secret is seen)."""

    key_id: str
    secret: str


class ApiKeyConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How long a checked key stays cached, how many are cached, how often last use is saved."""

    cache_ttl_s: int = 30
    cache_size: int = 10_000
    touch_interval_s: int = 60


class KeyStore(Protocol):
    """What the service needs of the identity store (`SqlIdentityStore` implements it)."""

    async def add_api_key(self, key: ApiKeyRecord, sealed_signing_key: bytes | None = None,
                          key_wrapping: str = "") -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def get_sealed_signing_key(self, key_id: str) -> bytes | None: ...

    async def list_api_keys(self, user_id: str) -> list[ApiKeyRecord]: ...

    async def revoke_api_key(self, key_id: str) -> bool: ...

    async def touch_api_key(self, key_id: str, used_ns: int) -> None: ...

    async def get_user(self, user_id: str) -> UserRecord | None: ...


class KeyEntry:
    """A checked key as cached: its secret's hash, principal, allow-list and signing key."""

    __slots__ = ("loaded_ns", "networks", "principal", "secret_hash", "signing_key",
                 "touched_ns")

    def __init__(self, secret_hash: bytes, principal: Principal,
                 networks: tuple[IpNetwork, ...], loaded_ns: int) -> None:
        self.secret_hash = secret_hash
        self.principal = principal
        self.networks = networks
        self.loaded_ns = loaded_ns
        self.touched_ns: int | None = None
        self.signing_key: bytes | None = None


class ApiKeyService:
    """API keys of users: create, list, revoke, authenticate."""

    def __init__(self, store: KeyStore, clock: Clock, audit: AuditLog, provider: KeyProvider,
                 config: ApiKeyConfig | None = None, *,
                 notices: RevocationNotices | None = None) -> None:
        self.store = store
        self.config = config or ApiKeyConfig()
        self._clock = clock
        self._audit = audit
        self._provider = provider
        self._notices = notices
        self._cache: OrderedDict[str, KeyEntry] = OrderedDict()
        self._revocations = 0  # a load that raced a revocation is not cached
        self._ttl_ns = self.config.cache_ttl_s * NANOS_PER_SECOND
        self._touch_ns = self.config.touch_interval_s * NANOS_PER_SECOND

    # -- Management -----------------------------------------------------------------------------

    async def create(self, user: UserRecord, label: str = "",
                     scopes: Sequence[str] | None = None, ip_allow: Sequence[str] = (),
                     ctx: RequestContext | None = None) -> ApiKeyPair:
        """Create a key pair for a user; the secret is returned once and never stored."""
        ctx = ctx or RequestContext()
        granted = normalize_scopes(DEFAULT_SCOPES if scopes is None else scopes)
        blocks = [str(net) for net in parse_ip_allow(ip_allow)]
        if len(label) > MAX_LABEL or not label.isprintable():
            raise InvalidInput("label", f"at most {MAX_LABEL} printable characters",
                               code="invalid_label")
        key_id = "TK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
        secret = secrets.token_urlsafe(30)
        sealed = seal(self._provider, derive_signing_key(secret), _aad(key_id))
        await self.store.add_api_key(ApiKeyRecord(
            key_id=key_id, secret_hash=_digest(secret).hex(), user_id=user.user_id, label=label,
            created_ns=self._clock.now_ns(), scopes=list(granted), ip_allow=blocks),
            sealed, self._provider.current_key_id)
        await self._audit.record("api_key.created", actor=user.user_id, target=key_id,
                                 ip=ctx.ip, user_agent=ctx.user_agent,
                                 detail={"scopes": list(granted), "ip_allow": blocks,
                                         "label": label})
        return ApiKeyPair(key_id, secret)

    async def list(self, user_id: str) -> list[ApiKeyRecord]:
        """Return a user's keys (revoked ones included), oldest first."""
        return await self.store.list_api_keys(user_id)

    async def revoke(self, user_id: str, key_id: str, ctx: RequestContext | None = None) -> None:
        """Revoke one of the user's keys; another user's key is NotFound like a missing one."""
        ctx = ctx or RequestContext()
        record = await self.store.get_api_key(key_id) if len(key_id) <= MAX_KEY_ID else None
        if record is None or record.user_id != user_id:
            raise NotFound(f"no API key {key_id}", code="api_key_not_found")
        self.evict(key_id)
        if record.revoked:
            return
        await self.store.revoke_api_key(key_id)
        self.evict(key_id)
        if self._notices is not None:
            await self._notices.publish(Revocation(kind="api_key", subject=key_id,
                                                   ts_ns=self._clock.now_ns()))
        await self._audit.record("api_key.revoked", actor=user_id, target=key_id, ip=ctx.ip,
                                 user_agent=ctx.user_agent)

    def evict(self, key_id: str) -> None:
        """Forget a cached key (after a change made elsewhere)."""
        self._revocations += 1
        self._cache.pop(key_id, None)

    def evict_user(self, user_id: str) -> None:
        """Forget a user's cached keys (after their roles or state changed)."""
        self._revocations += 1
        for key_id in [k for k, e in self._cache.items() if e.principal.user_id == user_id]:
            del self._cache[key_id]

    # -- Notices (a `RevocationListener`) -------------------------------------------------------

    def revoked(self, notice: Revocation) -> None:
        """Evict what a notice names: a key, or every key of a user."""
        if notice.kind == "api_key":
            self.evict(notice.subject)
        elif notice.kind == "user":
            self.evict_user(notice.subject)

    async def resync(self) -> None:
        """Forget every cached key: notices may have been missed."""
        self._revocations += 1
        self._cache.clear()

    # -- Per request ----------------------------------------------------------------------------

    async def authenticate(self, key_id: str, secret: str, ip: str | None = None) -> Principal:
        """Check a key pair (and the caller's address against its allow-list).

        `ip=None` means the caller's address is unknown: a key with an allow-list is refused.
        """
        entry = await self.entry(key_id)
        if not hmac.compare_digest(_digest(secret), entry.secret_hash):
            raise Unauthorized(_INVALID, code="invalid_api_key")
        self.check_ip(entry, ip)
        await self.mark_used(key_id, entry)
        return entry.principal

    async def entry(self, key_id: str) -> KeyEntry:
        """Return the cached entry of an active key, loading it when needed."""
        now = self._clock.now_ns()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached.loaded_ns < self._ttl_ns:
            return cached
        revocations = self._revocations
        record = await self.store.get_api_key(key_id) if len(key_id) <= MAX_KEY_ID else None
        user = None if record is None else await self.store.get_user(record.user_id)
        if record is None or user is None or record.revoked or not _may_use_keys(user):
            self._cache.pop(key_id, None)
            raise Unauthorized(_INVALID, code="invalid_api_key")
        entry = KeyEntry(bytes.fromhex(record.secret_hash), Principal(
            user.user_id, user.username, user.account, tuple(user.roles), method="api_key",
            scopes=tuple(record.scopes), key_id=record.key_id),
            tuple(parse_ip_allow(record.ip_allow)), now)
        if cached is not None and cached.secret_hash == entry.secret_hash:
            entry.touched_ns, entry.signing_key = cached.touched_ns, cached.signing_key
        if revocations == self._revocations:
            self._cache[key_id] = entry
            self._cache.move_to_end(key_id)
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return entry

    def check_ip(self, entry: KeyEntry, ip: str | None) -> None:
        """Raise Forbidden (`ip_not_allowed`) when the key has an allow-list without `ip`."""
        if not entry.networks:
            return
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            address = None
        if address is not None and isinstance(address, ipaddress.IPv6Address) \
                and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is None or not any(address in net for net in entry.networks):
            raise Forbidden("this API key may not be used from this address",
                            code="ip_not_allowed")

    async def signing_key(self, key_id: str, entry: KeyEntry) -> bytes:
        """Return the key's request-signing key (unsealed once per cache entry)."""
        if entry.signing_key is None:
            sealed = await self.store.get_sealed_signing_key(key_id)
            if sealed is None:
                raise Unauthorized("this API key cannot sign requests; create a new key",
                                   code="signing_not_enabled")
            entry.signing_key = open_sealed(self._provider, sealed, _aad(key_id))
        return entry.signing_key

    async def mark_used(self, key_id: str, entry: KeyEntry) -> None:
        """Save the last use, at most once per touch interval per key and process."""
        now = self._clock.now_ns()
        if entry.touched_ns is None or now - entry.touched_ns >= self._touch_ns:
            entry.touched_ns = now
            await self.store.touch_api_key(key_id, now)


def normalize_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Check scopes and return them in canonical order (`read` is always granted)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput("scopes", f"unknown scopes {unknown}; use {list(SCOPES)}",
                           code="invalid_scope")
    wanted = {"read", *scopes}
    return tuple(s for s in SCOPES if s in wanted)


def parse_ip_allow(blocks: Sequence[str]) -> list[IpNetwork]:
    """Parse an allow-list of CIDR blocks (a bare address is a /32 or /128)."""
    if len(blocks) > MAX_IP_BLOCKS:
        raise InvalidInput("ip_allow", f"at most {MAX_IP_BLOCKS} blocks", code="invalid_ip_allow")
    networks = []
    for i, block in enumerate(blocks):
        try:
            networks.append(ipaddress.ip_network(block.strip(), strict=False))
        except ValueError:
            raise InvalidInput(f"ip_allow[{i}]", f"{block[:64]!r} is not an IP address or "
                               "CIDR block", code="invalid_ip_allow") from None
    return networks


def _may_use_keys(user: UserRecord) -> bool:
    # As for sessions: a timed lockout (failed logins) leaves keys working; closing, an
    # open-ended lock or a pending sign-up does not.
    if user.state == "locked":
        return user.locked_until_ns is not None
    return user.state == "active"


def _aad(key_id: str) -> bytes:
    return b"api-key-signing:" + key_id.encode()


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
