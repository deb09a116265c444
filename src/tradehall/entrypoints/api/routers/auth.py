"""Login and sessions: password login, refresh-token rotation, logout, the user's sessions.

A login returns a short-lived RS256 access token and a refresh token (spent on each use for
its successor). With `cookie: true` the refresh token is also set as an `HttpOnly; Secure;
SameSite=Strict` cookie on `/v1/auth`, so a browser app never holds it in script; refresh and
logout then read it from the cookie when the body carries none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Response
from pydantic import BaseModel, ConfigDict, Field

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.identity.sessions import SessionRecord
from tradehall.kernel.clock import NANOS_PER_SECOND
from tradehall.kernel.errors import Forbidden, Unauthorized
from tradehall.service.auth import LoginResult, Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])

REFRESH_COOKIE = "tradehall_refresh"
_COOKIE_PATH = "/v1/auth"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp_code: str | None = Field(default=None, max_length=64)
    cookie: bool = False
    """Also set the refresh token as an HttpOnly cookie on /v1/auth."""


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str | None = Field(default=None, min_length=1, max_length=256)
    """The refresh token; when absent, the `tradehall_refresh` cookie is used."""
    cookie: bool = False
    """Set the next refresh token as the cookie (implied when the cookie was used)."""


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    username: str
    account: str
    roles: list[str]
    refresh_token: str
    refresh_expires_in: int
    session_id: str


class PrincipalPublic(BaseModel):
    user_id: str
    username: str
    account: str
    roles: list[str]


class SessionPublic(BaseModel):
    session_id: str
    created_at_s: int
    last_seen_at_s: int
    expires_at_s: int
    ip: str
    user_agent: str
    device_id: str
    current: bool


class SessionsPublic(BaseModel):
    sessions: list[SessionPublic]


class RevokedPublic(BaseModel):
    revoked: int


@router.post("/login", response_model=TokenPublic, responses=error_responses(401, 422))
async def login(body: LoginRequest, platform: PlatformDep, ctx: ContextDep,
                response: Response) -> TokenPublic:
    """Exchange a username and password (and a 2FA code once enrolled) for session tokens."""
    result = await platform.auth.login(body.username, body.password, body.totp_code, ctx)
    if body.cookie:
        _set_cookie(response, result)
    return _tokens(result)


@router.post("/refresh", response_model=TokenPublic, responses=error_responses(401, 422))
async def refresh(body: RefreshRequest, platform: PlatformDep, ctx: ContextDep,
                  response: Response,
                  cookie: Annotated[str | None, Cookie(alias=REFRESH_COOKIE)] = None,
                  ) -> TokenPublic:
    """Spend a refresh token for new tokens; a token used twice revokes its whole session."""
    token = body.refresh_token or cookie
    if not token:
        raise Unauthorized(f"send refresh_token or the {REFRESH_COOKIE} cookie",
                           code="missing_credentials")
    result = await platform.auth.refresh(token, ctx)
    if body.cookie or body.refresh_token is None:
        _set_cookie(response, result)
    return _tokens(result)


@router.post("/logout", status_code=204, responses=error_responses(401, 403))
async def logout(principal: PrincipalDep, platform: PlatformDep, ctx: ContextDep) -> Response:
    """End the session of the presented access token (its tokens stop working at once)."""
    session_id = _session_of(principal)
    await platform.auth.sessions.revoke(session_id, actor=principal.user_id, ctx=ctx,
                                        reason="logout")
    return _cleared(Response(status_code=204))


@router.post("/logout-all", response_model=RevokedPublic, responses=error_responses(401, 403))
async def logout_all(principal: PrincipalDep, platform: PlatformDep, ctx: ContextDep,
                     response: Response) -> RevokedPublic:
    """End every session of the user, this one included."""
    _session_of(principal)
    ids = await platform.auth.sessions.revoke_all(principal.user_id, actor=principal.user_id,
                                                  ctx=ctx)
    _cleared(response)
    return RevokedPublic(revoked=len(ids))


@router.get("/sessions", response_model=SessionsPublic, responses=error_responses(401, 403))
async def list_sessions(principal: PrincipalDep, platform: PlatformDep) -> SessionsPublic:
    """The user's live sessions, newest first (`current` marks the caller's)."""
    current = _session_of(principal)
    sessions = await platform.auth.sessions.list_own(principal.user_id)
    return SessionsPublic(sessions=[_session(s, current) for s in sessions])


@router.delete("/sessions/{session_id}", status_code=204,
               responses=error_responses(401, 403, 404))
async def revoke_session(session_id: str, principal: PrincipalDep, platform: PlatformDep,
                         ctx: ContextDep) -> Response:
    """End one of the user's own sessions (another user's id answers 404)."""
    _session_of(principal)
    await platform.auth.sessions.revoke_own(principal.user_id, session_id, ctx)
    return Response(status_code=204)


@router.get("/me", response_model=PrincipalPublic, responses=error_responses(401))
async def me(principal: PrincipalDep) -> PrincipalPublic:
    """Who the presented credentials belong to."""
    return PrincipalPublic(user_id=principal.user_id, username=principal.username,
                           account=principal.account, roles=list(principal.roles))


def _session_of(principal: Principal) -> str:
    if principal.session_id is None:
        raise Forbidden("this needs a session's access token (log in), not an API key",
                        code="session_required")
    return principal.session_id


def _tokens(result: LoginResult) -> TokenPublic:
    principal = result.principal
    return TokenPublic(access_token=result.access_token, expires_in=result.expires_in,
                       username=principal.username, account=principal.account,
                       roles=list(principal.roles), refresh_token=result.refresh_token,
                       refresh_expires_in=result.refresh_expires_in,
                       session_id=result.session_id)


def _session(s: SessionRecord, current: str) -> SessionPublic:
    return SessionPublic(session_id=s.session_id, created_at_s=s.created_ns // NANOS_PER_SECOND,
                         last_seen_at_s=s.last_seen_ns // NANOS_PER_SECOND,
                         expires_at_s=s.expires_ns // NANOS_PER_SECOND, ip=s.ip,
                         user_agent=s.user_agent, device_id=s.device_id,
                         current=s.session_id == current)


def _set_cookie(response: Response, result: LoginResult) -> None:
    response.set_cookie(REFRESH_COOKIE, result.refresh_token,
                        max_age=result.refresh_expires_in, path=_COOKIE_PATH, secure=True,
                        httponly=True, samesite="strict")


def _cleared(response: Response) -> Response:
    response.delete_cookie(REFRESH_COOKIE, path=_COOKIE_PATH, secure=True, httponly=True,
                           samesite="strict")
    return response
