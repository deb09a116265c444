"""Dependencies of the routes: the platform, the calling principal, role checks.

The one authentication layer of the HTTP API: whatever the caller presented (Alpaca key
headers or a bearer token) becomes a `Principal` here, through `service/auth.py`; routes take
`PrincipalDep` and never read credentials. WebSocket endpoints call `authenticate` directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from tradehall.identity.context import RequestContext
from tradehall.kernel.errors import Unauthorized
from tradehall.service.auth import Principal, require_role

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

KEY_ID_HEADER = "APCA-API-KEY-ID"
SECRET_HEADER = "APCA-API-SECRET-KEY"  # noqa: S105 - a header name, not a secret
_key_id = APIKeyHeader(name=KEY_ID_HEADER, auto_error=False, scheme_name="AlpacaKeyId")
_secret = APIKeyHeader(name=SECRET_HEADER, auto_error=False, scheme_name="AlpacaSecretKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="BearerToken")


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


async def authenticate(platform: Platform, headers: Mapping[str, str]) -> Principal:
    """Turn request headers into a principal or raise Unauthorized."""
    key_id = headers.get(KEY_ID_HEADER.lower())
    secret = headers.get(SECRET_HEADER.lower())
    if key_id is not None or secret is not None:
        if not key_id or not secret:
            raise Unauthorized(f"send both {KEY_ID_HEADER} and {SECRET_HEADER}",
                               code="missing_credentials")
        return await platform.auth.authenticate_api_key(key_id, secret)
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'", code="invalid_token")
        return platform.auth.authenticate_token(token.strip())
    raise Unauthorized(f"send {KEY_ID_HEADER} and {SECRET_HEADER}, or a bearer token",
                       code="missing_credentials")


async def current_principal(
    conn: HTTPConnection,
    platform: PlatformDep,
    _key: Annotated[str | None, Security(_key_id)] = None,
    _sec: Annotated[str | None, Security(_secret)] = None,
    _tok: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The principal of the request (the security parameters document the schemes)."""
    return await authenticate(platform, conn.headers)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def role(name: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that requires a role and yields the principal."""

    async def check(principal: PrincipalDep) -> Principal:
        require_role(principal, name)
        return principal

    return check


AdminDep = Annotated[Principal, Depends(role("admin"))]
