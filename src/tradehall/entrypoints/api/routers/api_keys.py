"""API key management: create (the secret is shown once), list, revoke the caller's keys.

Managing keys needs a session login (a bearer access token), never an API key, so a leaked key
cannot mint or remove others; creating one also needs the 2FA step-up code in
`X-Tradehall-OTP` when the user has 2FA. Another user's key answers 404 like a missing one.
A revoked key is refused by this process at once (its cached check is evicted).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers.native_render import timestamp
from tradehall.entrypoints.api.schemas import api_keys as s
from tradehall.identity.mfa import OTP_HEADER
from tradehall.identity.ports import ApiKeyRecord
from tradehall.identity.principal import Principal
from tradehall.kernel.errors import Forbidden, NotFound

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def _require_session(principal: Principal) -> None:
    if principal.method not in ("token", "external"):
        raise Forbidden("managing API keys needs a session login, not an API key",
                        code="session_required")


def _public(key: ApiKeyRecord) -> s.ApiKeyPublic:
    return s.ApiKeyPublic(key_id=key.key_id, label=key.label, scopes=list(key.scopes),
                          ip_allow=list(key.ip_allow), created_at=timestamp(key.created_ns),
                          last_used_at=None if key.last_used_ns is None
                          else timestamp(key.last_used_ns), revoked=key.revoked)


@router.post("", response_model=s.ApiKeyCreated, status_code=201,
             responses=error_responses(401, 403, 422))
async def create_api_key(body: s.ApiKeyCreate, request: Request, platform: PlatformDep,
                         principal: PrincipalDep, ctx: ContextDep) -> s.ApiKeyCreated:
    """Create an API key; the secret is in this answer only (needs a session and 2FA)."""
    _require_session(principal)
    await platform.auth.mfa.require_step_up(principal.user_id, request.headers.get(OTP_HEADER))
    user = await platform.identity.get_user(principal.user_id)
    if user is None:
        raise NotFound("the user no longer exists", code="user_not_found")
    keys = platform.auth.keys
    pair = await keys.create(user, body.label, body.scopes, body.ip_allow, ctx)
    record = await keys.store.get_api_key(pair.key_id)
    assert record is not None  # just written by this process
    return s.ApiKeyCreated(**_public(record).model_dump(), secret=pair.secret)


@router.get("", response_model=s.ApiKeysPublic, responses=error_responses(401, 403))
async def list_api_keys(platform: PlatformDep, principal: PrincipalDep) -> s.ApiKeysPublic:
    """List the caller's API keys, revoked ones included (never their secrets)."""
    _require_session(principal)
    keys = await platform.auth.keys.list(principal.user_id)
    return s.ApiKeysPublic(data=[_public(k) for k in keys])


@router.delete("/{key_id}", status_code=204, responses=error_responses(401, 403, 404))
async def revoke_api_key(key_id: str, platform: PlatformDep, principal: PrincipalDep,
                         ctx: ContextDep) -> Response:
    """Revoke one of the caller's API keys; it stops working at once."""
    _require_session(principal)
    await platform.auth.keys.revoke(principal.user_id, key_id, ctx)
    return Response(status_code=204)
