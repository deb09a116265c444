"""Signed requests of the native API: the canonical string, `sign_request`, the verifier.

A signed request carries four headers: `TH-API-KEY` (the key id), `TH-API-TIMESTAMP` (Unix
time in milliseconds), `TH-API-NONCE` (16-64 characters of `A-Z a-z 0-9 _ -`, never reused)
and `TH-API-SIGNATURE`: the lower-case hex HMAC-SHA256, under the key's signing key, of

    TH-HMAC-SHA256 \\n key id \\n timestamp \\n nonce \\n METHOD \\n path \\n query \\n body hash

(`canonical_string`; no trailing newline). The signing key is HMAC-SHA256 of the constant
`tradehall/request-signing/v1` under the API secret (`derive_signing_key`), so the server
needs neither the secret nor its clear copy: it keeps this derived key sealed by the master
key provider. The verifier checks the timestamp window (default +-30 s), the signature in
constant time, the key's IP allow-list, and then records the nonce: a nonce seen within the
window is a replay. Everything that changes what the request does (method, path, every query
parameter, every body byte) is covered. `docs/api.md` has a worked example.

Pure: no I/O library; the nonce store is a port (in-process here, Redis in `adapters/redis`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, quote, urlencode

import msgspec

from tradehall.identity.principal import Principal
from tradehall.kernel.clock import Clock, LiveClock
from tradehall.kernel.errors import TemporaryError, Unauthorized

if TYPE_CHECKING:
    from tradehall.identity.apikeys import ApiKeyService

KEY_HEADER = "TH-API-KEY"
TIMESTAMP_HEADER = "TH-API-TIMESTAMP"
NONCE_HEADER = "TH-API-NONCE"
SIGNATURE_HEADER = "TH-API-SIGNATURE"
ALGORITHM = "TH-HMAC-SHA256"
SIGNING_CONTEXT = b"tradehall/request-signing/v1"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_NANOS_PER_MS = 1_000_000

Query = str | Mapping[str, str] | Sequence[tuple[str, str]]


def derive_signing_key(secret: str) -> bytes:
    """Return the request-signing key of an API secret (32 bytes)."""
    return hmac.new(secret.encode("utf-8"), SIGNING_CONTEXT, hashlib.sha256).digest()


def canonical_query(query: Query) -> str:
    """Return the query in canonical form: pairs sorted, each part percent-encoded (RFC 3986)."""
    pairs = (parse_qsl(query, keep_blank_values=True) if isinstance(query, str)
             else parse_qsl(urlencode(query), keep_blank_values=True))
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_string(key_id: str, timestamp: str, nonce: str, method: str, path: str,
                     query: Query, body: bytes) -> str:
    """Return the text a request's signature is computed over."""
    return "\n".join((ALGORITHM, key_id, timestamp, nonce, method.upper(), path,
                      canonical_query(query), hashlib.sha256(body).hexdigest()))


def signature(signing_key: bytes, text: str) -> str:
    """Return the lower-case hex HMAC-SHA256 of a canonical string."""
    return hmac.new(signing_key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_request(key_id: str, secret: str, method: str, path: str, *, query: Query = "",
                 body: bytes = b"", timestamp_ms: int | None = None,
                 nonce: str | None = None) -> dict[str, str]:
    """Return the four headers that sign a request (a client helper).

    `path` is the URL path without the query (as the server decodes it); `query` the query
    string or its parameters; `body` the exact bytes sent. The timestamp defaults to now and
    the nonce to a fresh random one.
    """
    ts = str(LiveClock().now_ns() // _NANOS_PER_MS if timestamp_ms is None else timestamp_ms)
    nonce = nonce or secrets.token_urlsafe(18)
    text = canonical_string(key_id, ts, nonce, method, path, query, body)
    return {KEY_HEADER: key_id, TIMESTAMP_HEADER: ts, NONCE_HEADER: nonce,
            SIGNATURE_HEADER: signature(derive_signing_key(secret), text)}


# -- Nonces ---------------------------------------------------------------------------------


class NonceStore(Protocol):
    """Remembers nonces for a while; the first claim of a nonce wins."""

    async def claim(self, nonce: str, ttl_ms: int) -> bool:
        """Record a nonce for `ttl_ms`; return False when it is already recorded."""
        ...


class MemoryNonceStore:
    """Nonces of this process, bounded: expired ones are dropped, a full store refuses."""

    def __init__(self, clock: Clock, capacity: int = 200_000) -> None:
        self._clock = clock
        self._capacity = capacity
        self._expiry: OrderedDict[str, int] = OrderedDict()

    async def claim(self, nonce: str, ttl_ms: int) -> bool:
        now = self._clock.now_ns()
        expiry = self._expiry
        # Every entry has the same time to live, so insertion order is expiry order.
        while expiry:
            first = next(iter(expiry.values()))
            if first > now:
                break
            expiry.popitem(last=False)
        if nonce in expiry:
            return False
        if len(expiry) >= self._capacity:
            raise TemporaryError("too many signed requests in flight; retry shortly",
                                 code="nonce_store_full")
        expiry[nonce] = now + ttl_ms * _NANOS_PER_MS
        return True

    def __len__(self) -> int:
        return len(self._expiry)


# -- Verification ---------------------------------------------------------------------------


class SigningConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How far a request's timestamp may be from the server's clock."""

    window_s: int = 30


class SignedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the edge read from a signed request."""

    key_id: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path: str
    query: str
    body: bytes


class SignedRequestVerifier:
    """Checks signed requests against the keys' signing keys, the clock and the nonces."""

    def __init__(self, keys: ApiKeyService, nonces: NonceStore, clock: Clock,
                 config: SigningConfig | None = None) -> None:
        self.config = config or SigningConfig()
        self._keys = keys
        self._nonces = nonces
        self._clock = clock
        self._window_ms = self.config.window_s * 1000

    async def verify(self, request: SignedRequest, ip: str | None) -> Principal:
        """Return the signer's principal or raise Unauthorized / Forbidden; change nothing."""
        if not (request.timestamp.isdigit() and len(request.timestamp) <= 16):
            raise Unauthorized(f"{TIMESTAMP_HEADER} must be Unix time in milliseconds",
                               code="invalid_signature")
        if not _NONCE.fullmatch(request.nonce):
            raise Unauthorized(f"{NONCE_HEADER} must be 16-64 characters of A-Z a-z 0-9 _ -",
                               code="invalid_signature")
        if not _SIGNATURE.fullmatch(request.signature):
            raise Unauthorized(f"{SIGNATURE_HEADER} must be 64 hex digits",
                               code="invalid_signature")
        now_ms = self._clock.now_ns() // _NANOS_PER_MS
        if abs(now_ms - int(request.timestamp)) > self._window_ms:
            raise Unauthorized(f"the request timestamp is more than {self.config.window_s} s "
                               "from the server's time", code="stale_request")
        entry = await self._keys.entry(request.key_id)
        key = await self._keys.signing_key(request.key_id, entry)
        text = canonical_string(request.key_id, request.timestamp, request.nonce,
                                request.method, request.path, request.query, request.body)
        if not hmac.compare_digest(signature(key, text), request.signature.lower()):
            raise Unauthorized("the request signature does not match", code="invalid_signature")
        self._keys.check_ip(entry, ip)
        if not await self._nonces.claim(f"{request.key_id}:{request.nonce}",
                                        2 * self._window_ms):
            raise Unauthorized("this nonce was already used", code="replayed_request")
        await self._keys.mark_used(request.key_id, entry)
        return msgspec.structs.replace(entry.principal, method="signed")
