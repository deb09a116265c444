"""Public discovery documents: the JWK Set that verifies tradehall's access tokens, and a
minimal OpenID-style configuration pointing at it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tradehall.entrypoints.api.deps import PlatformDep

router = APIRouter(prefix="/.well-known", tags=["auth"])

_CACHE = "public, max-age=300"


@router.get("/jwks.json")
async def jwks(platform: PlatformDep, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens now (RS256, by `kid`)."""
    response.headers["Cache-Control"] = _CACHE
    return platform.auth.tokens.jwks()


@router.get("/openid-configuration")
async def openid_configuration(platform: PlatformDep, request: Request,
                               response: Response) -> dict[str, Any]:
    """Where the keys are, which issuer and algorithm tokens use (no OAuth flows offered)."""
    response.headers["Cache-Control"] = _CACHE
    base = str(request.base_url).rstrip("/")
    return {"issuer": platform.auth.tokens.config.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/v1/auth/login",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
            "subject_types_supported": ["public"]}
