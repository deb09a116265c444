"""`POST /v1/auth/external`: exchange the external identity provider's ID token for a
tradehall session (access and refresh token), as a password login would open one."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep
from tradehall.entrypoints.api.errors import ApiError, error_responses

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class ExternalLoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_token: str = Field(min_length=1, max_length=8192)


class ExternalSessionPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    username: str
    account: str
    roles: list[str]


@router.post("/external", response_model=ExternalSessionPublic,
             responses=error_responses(401, 403, 404, 422, 503))
async def external_login(body: ExternalLoginRequest, platform: PlatformDep,
                         ctx: ContextDep) -> ExternalSessionPublic:
    """Exchange an ID token of the configured identity provider for a tradehall session."""
    external = platform.auth.external
    if external is None:
        raise ApiError(404, "external_login_disabled",
                       "no external identity provider is configured")
    user = await external.verify(body.id_token, ctx)
    result = await platform.auth.open_session(user, ctx, method="external")
    principal = result.principal
    return ExternalSessionPublic(access_token=result.access_token, expires_in=result.expires_in,
                                 refresh_token=result.refresh_token,
                                 refresh_expires_in=result.refresh_expires_in,
                                 session_id=result.session_id, username=principal.username,
                                 account=principal.account, roles=list(principal.roles))
