"""The gateway: dependencies of the routes, and the one authentication layer of the API.

Whatever the caller presented becomes one `Principal` here, through `platform.auth`:
an API key pair (`APCA-API-KEY-ID` / `APCA-API-SECRET-KEY`), a bearer token (a tradehall
session's access token, or a token of the configured external identity provider, told apart
by its `iss` claim), or a signed request. Routes take `PrincipalDep` and never read
credentials; the WebSocket endpoints call `authenticate` (handshake headers),
`authenticate_bearer` and `authenticate_key_pair` (credentials sent in a message), so every
entry point goes through the same functions with the caller's `RequestContext`. The app-level
permission check (`permissions.py`) authenticates first and leaves the principal on the
connection's state, so a route's `PrincipalDep` costs nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection, Request

from tradehall.identity.context import RequestContext
from tradehall.identity.signing import (
    KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignedRequest,
)
from tradehall.kernel.errors import Unauthorized
from tradehall.service.auth import Principal, require_role

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

KEY_ID_HEADER = "APCA-API-KEY-ID"
SECRET_HEADER = "APCA-API-SECRET-KEY"  # noqa: S105 - a header name, not a secret
_key_id = APIKeyHeader(name=KEY_ID_HEADER, auto_error=False, scheme_name="AlpacaKeyId")
_secret = APIKeyHeader(name=SECRET_HEADER, auto_error=False, scheme_name="AlpacaSecretKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="BearerToken")
_MAX_TOKEN = 8192


async def get_platform(conn: HTTPConnection) -> Platform:
    """The platform this app serves (async: a plain def would cost a thread-pool hop)."""
    platform: Platform = conn.app.state.platform
    return platform


PlatformDep = Annotated["Platform", Depends(get_platform)]


def request_context(conn: HTTPConnection) -> RequestContext:
    """Where the request came from (uvicorn resolves trusted proxies' forwarded headers)."""
    client = conn.client
    return RequestContext(ip=client.host if client else "",
                          user_agent=conn.headers.get("user-agent", "")[:512])


ContextDep = Annotated[RequestContext, Depends(request_context)]


async def authenticate(platform: Platform, headers: Mapping[str, str],
                       ctx: RequestContext | None = None) -> Principal:
    """Turn request headers into a principal or raise Unauthorized."""
    ctx = ctx or RequestContext()
    key_id = headers.get(KEY_ID_HEADER.lower())
    secret = headers.get(SECRET_HEADER.lower())
    if key_id is not None or secret is not None:
        if not key_id or not secret:
            raise Unauthorized(f"send both {KEY_ID_HEADER} and {SECRET_HEADER}",
                               code="missing_credentials")
        return await authenticate_key_pair(platform, key_id, secret, ctx)
    # -- Signed requests (API keys part) --
    if headers.get(_SIGNED_KEY) is not None:
        raise Unauthorized("signed requests are accepted over HTTP only (principal_of)",
                           code="invalid_signature")
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'", code="invalid_token")
        return await authenticate_bearer(platform, token.strip(), ctx)
    raise Unauthorized(f"send {KEY_ID_HEADER} and {SECRET_HEADER}, or a bearer token",
                       code="missing_credentials")


async def authenticate_bearer(platform: Platform, token: str,
                              ctx: RequestContext | None = None) -> Principal:
    """Verify a bearer token: the external provider's when its `iss` says so, else ours."""
    if len(token) > _MAX_TOKEN:
        raise Unauthorized("the access token is not valid", code="invalid_token")
    external = platform.auth.external
    if external is not None and external.issued_this(token):
        return await external.authenticate(token, ctx or RequestContext())
    return platform.auth.authenticate_token(token)


async def authenticate_key_pair(platform: Platform, key_id: str, secret: str,
                                ctx: RequestContext | None = None) -> Principal:
    """Check an API key pair (and its IP allow-list) and return its owner's principal."""
    return await platform.auth.authenticate_api_key(key_id, secret,
                                                    None if ctx is None else ctx.ip)


_SIGNED_KEY = KEY_HEADER.lower()
_SIGNED_HEADERS = (_SIGNED_KEY, TIMESTAMP_HEADER.lower(), NONCE_HEADER.lower(),
                   SIGNATURE_HEADER.lower())


async def authenticate_signed(platform: Platform, request: Request,
                              ctx: RequestContext) -> Principal:
    """Verify a signed request (`identity/signing.py`) over its method, path, query and body."""
    key_id, timestamp, nonce, signature = (request.headers.get(h) for h in _SIGNED_HEADERS)
    if key_id is None or timestamp is None or nonce is None or signature is None:
        raise Unauthorized(f"a signed request needs {KEY_HEADER}, {TIMESTAMP_HEADER}, "
                           f"{NONCE_HEADER} and {SIGNATURE_HEADER}",
                           code="missing_credentials")
    body = await request.body()  # Starlette caches it; the route reads the same bytes
    scope = request.scope
    return await platform.auth.signing.verify(SignedRequest(
        key_id=key_id, timestamp=timestamp, nonce=nonce, signature=signature,
        method=request.method, path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"), body=body), ctx.ip)


async def principal_of(conn: HTTPConnection, platform: Platform) -> Principal:
    """The principal of a connection, authenticated once and kept on its state."""
    principal: Principal | None = getattr(conn.state, "principal", None)
    if principal is None:
        ctx = request_context(conn)
        if _SIGNED_KEY in conn.headers and isinstance(conn, Request):
            principal = await authenticate_signed(platform, conn, ctx)
        else:
            principal = await authenticate(platform, conn.headers, ctx)
        await platform.auth.limits.check_principal(principal)
        conn.state.principal = principal
    return principal


async def current_principal(
    conn: HTTPConnection,
    platform: PlatformDep,
    _key: Annotated[str | None, Security(_key_id)] = None,
    _sec: Annotated[str | None, Security(_secret)] = None,
    _tok: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The principal of the request (the security parameters document the schemes)."""
    return await principal_of(conn, platform)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def role(name: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that requires a role and yields the principal."""

    async def check(principal: PrincipalDep) -> Principal:
        require_role(principal, name)
        return principal

    return check


AdminDep = Annotated[Principal, Depends(role("admin"))]
