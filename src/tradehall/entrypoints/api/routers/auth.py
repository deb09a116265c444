"""Minimal login: a username and password give a short-lived bearer token."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp_code: str | None = Field(default=None, max_length=64)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    username: str
    account: str
    roles: list[str]


class PrincipalPublic(BaseModel):
    user_id: str
    username: str
    account: str
    roles: list[str]


@router.post("/login", response_model=TokenPublic, responses=error_responses(401, 422))
async def login(body: LoginRequest, platform: PlatformDep, ctx: ContextDep) -> TokenPublic:
    """Exchange a username and password (and a 2FA code once enrolled) for an access token."""
    token, principal = await platform.auth.login(body.username, body.password, body.totp_code,
                                                 ctx)
    return TokenPublic(access_token=token, expires_in=platform.auth.token_ttl_s,
                       username=principal.username, account=principal.account,
                       roles=list(principal.roles))


@router.get("/me", response_model=PrincipalPublic, responses=error_responses(401))
async def me(principal: PrincipalDep) -> PrincipalPublic:
    """Who the presented credentials belong to."""
    return PrincipalPublic(user_id=principal.user_id, username=principal.username,
                           account=principal.account, roles=list(principal.roles))
