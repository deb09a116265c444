"""The caller's account: registration, e-mail verification, password change and reset, 2FA.

Registration, verification and the reset routes are public (the permission table says so);
the reset request answers 202 whatever the address, so it tells nobody which addresses have
accounts. Changing the password and managing 2FA need a session (a login), not an API key: a
leaked key must not be able to take the account over. The service (`identity/users.py`,
`identity/mfa.py`) decides; these routes validate and map.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tradehall.entrypoints.api.deps import ContextDep, PlatformDep, PrincipalDep
from tradehall.entrypoints.api.errors import error_responses
from tradehall.entrypoints.api.routers.native_common import summaries_from_docstrings
from tradehall.entrypoints.api.schemas import accounts as s
from tradehall.identity.ports import UserRecord
from tradehall.identity.principal import Principal
from tradehall.kernel.errors import Forbidden

router = APIRouter(prefix="/v1/account", tags=["account"])


async def session_principal(principal: PrincipalDep) -> Principal:
    """The caller, who must have logged in (a session), not used an API key."""
    logged_in = principal.method == "external" or (principal.method == "token"
                                                   and principal.session_id is not None)
    if not logged_in:
        raise Forbidden("log in to change your password or two-factor settings",
                        code="session_required")
    return principal


SessionDep = Annotated[Principal, Depends(session_principal)]


def _public(user: UserRecord) -> s.AccountPublic:
    return s.AccountPublic(user_id=user.user_id, username=user.username, email=user.email,
                           email_verified=user.email_verified, state=user.state)


@router.post("/register", response_model=s.AccountPublic, status_code=201,
             responses=error_responses(409, 422))
async def register(body: s.UserRegister, platform: PlatformDep,
                   ctx: ContextDep) -> s.AccountPublic:
    """Register a trader: the account stays pending until the e-mail address is verified."""
    user = await platform.auth.users.register(body.username, body.email, body.password, ctx)
    return _public(user)


@router.post("/verify-email", response_model=s.AccountPublic, responses=error_responses(422))
async def verify_email(body: s.VerifyEmailRequest, platform: PlatformDep,
                       ctx: ContextDep) -> s.AccountPublic:
    """Verify the e-mail address with the mailed token (single-use): the account turns active."""
    return _public(await platform.auth.users.verify_email(body.token, ctx))


@router.post("/verify-email/resend", response_model=s.Accepted, status_code=202,
             responses=error_responses(422))
async def resend_verification(body: s.PasswordResetRequest, platform: PlatformDep,
                              ctx: ContextDep) -> s.Accepted:
    """Mail a new verification token if the address has a pending account (always 202)."""
    await platform.auth.users.resend_verification(body.email, ctx)
    return s.Accepted()


@router.post("/password", response_model=s.PasswordChanged,
             responses=error_responses(401, 403, 422, 429))
async def change_password(body: s.PasswordChangeRequest, platform: PlatformDep,
                          principal: SessionDep, ctx: ContextDep) -> s.PasswordChanged:
    """Change the password (give the current one); the caller's other sessions end."""
    await platform.auth.users.change_password(principal.user_id, body.current_password,
                                              body.new_password, ctx)
    sessions = platform.auth.sessions
    ended = 0
    for session in await sessions.list_own(principal.user_id):
        if session.session_id != principal.session_id and await sessions.revoke(
                session.session_id, actor=principal.user_id, ctx=ctx,
                reason="password_changed"):
            ended += 1
    return s.PasswordChanged(sessions_revoked=ended)


@router.post("/password-reset", response_model=s.Accepted, status_code=202,
             responses=error_responses(422))
async def request_password_reset(body: s.PasswordResetRequest, platform: PlatformDep,
                                 ctx: ContextDep) -> s.Accepted:
    """Mail a password reset token if the address has an account (always answers 202)."""
    await platform.auth.users.request_password_reset(body.email, ctx)
    return s.Accepted()


@router.post("/password-reset/confirm", response_model=s.PasswordChanged,
             responses=error_responses(422))
async def reset_password(body: s.PasswordResetConfirm, platform: PlatformDep,
                         ctx: ContextDep) -> s.PasswordChanged:
    """Set a new password with the mailed reset token (single-use); every session ends."""
    user = await platform.auth.users.reset_password(body.token, body.new_password, ctx)
    ended = await platform.auth.sessions.revoke_all(user.user_id, actor=user.user_id, ctx=ctx,
                                                    reason="password_reset")
    return s.PasswordChanged(sessions_revoked=len(ended))


# -- Two-factor authentication ------------------------------------------------------------------


@router.get("/2fa", response_model=s.MfaStatus, responses=error_responses(401))
async def mfa_status(platform: PlatformDep, principal: PrincipalDep) -> s.MfaStatus:
    """Whether 2FA is on, and how many recovery codes are left."""
    mfa = platform.auth.mfa
    enabled = await mfa.is_enabled(principal.user_id)
    left = await mfa.recovery_codes_left(principal.user_id) if enabled else 0
    return s.MfaStatus(enabled=enabled, recovery_codes_left=left)


@router.post("/2fa/enroll", response_model=s.MfaEnrolment,
             responses=error_responses(401, 403, 409))
async def mfa_enroll(platform: PlatformDep, principal: SessionDep,
                     ctx: ContextDep) -> s.MfaEnrolment:
    """Start 2FA: a new TOTP secret as an otpauth URI and QR code (confirm it next)."""
    enrolment = await platform.auth.mfa.enroll(principal.user_id, principal.username, ctx)
    return s.MfaEnrolment(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri,
                          qr_svg=enrolment.qr_svg)


@router.post("/2fa/confirm", response_model=s.RecoveryCodes,
             responses=error_responses(401, 403, 409, 422))
async def mfa_confirm(body: s.MfaCodeRequest, platform: PlatformDep, principal: SessionDep,
                      ctx: ContextDep) -> s.RecoveryCodes:
    """Turn 2FA on with a first code; answers the ten recovery codes, once."""
    codes = await platform.auth.mfa.confirm(principal.user_id, body.code, ctx)
    return s.RecoveryCodes(recovery_codes=codes)


@router.post("/2fa/disable", response_model=s.MfaStatus,
             responses=error_responses(401, 403, 422))
async def mfa_disable(body: s.MfaCodeRequest, platform: PlatformDep, principal: SessionDep,
                      ctx: ContextDep) -> s.MfaStatus:
    """Turn 2FA off with a current code (or a recovery code)."""
    await platform.auth.mfa.disable(principal.user_id, body.code, ctx)
    return s.MfaStatus(enabled=False, recovery_codes_left=0)


summaries_from_docstrings(router)
