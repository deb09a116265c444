"""Schemas of accounts, 2FA and user administration (`/v1/account`, `/v1/admin/users`).

Requests forbid unknown fields (a `role` in a registration body is 422). Passwords and tokens
only ever travel inward, except the recovery codes and the TOTP secret of an enrolment, shown
once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tradehall.identity.users import MAX_PASSWORD, MAX_TOKEN


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- Account ------------------------------------------------------------------------------------


class UserRegister(_Request):
    username: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class VerifyEmailRequest(_Request):
    token: str = Field(min_length=1, max_length=MAX_TOKEN)


class PasswordChangeRequest(_Request):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class PasswordResetRequest(_Request):
    email: str = Field(min_length=1, max_length=254)


class PasswordResetConfirm(_Request):
    token: str = Field(min_length=1, max_length=MAX_TOKEN)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class AccountPublic(BaseModel):
    user_id: str
    username: str
    email: str | None
    email_verified: bool
    state: str


class PasswordChanged(BaseModel):
    sessions_revoked: int
    """Sessions ended by the change (every session but the caller's, or all after a reset)."""


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


# -- Two-factor authentication ------------------------------------------------------------------


class MfaCodeRequest(_Request):
    code: str = Field(min_length=1, max_length=64)


class MfaStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int


class MfaEnrolment(BaseModel):
    secret: str
    """Base32 TOTP secret, for apps that cannot scan the QR code (shown only now)."""
    otpauth_uri: str
    qr_svg: str
    """The otpauth URI as a QR code, an SVG document."""


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]
    """Ten single-use codes, each usable once instead of a TOTP code; shown only now."""


# -- Administration -----------------------------------------------------------------------------


class UserAdminPublic(BaseModel):
    user_id: str
    username: str
    account: str
    email: str | None
    email_verified: bool
    state: str
    roles: list[str]
    mfa_enabled: bool
    failed_logins: int
    locked_until: str | None
    """RFC 3339 end of a temporary lockout (failed logins), null when not locked."""
    created_at: str


class UsersAdminPublic(BaseModel):
    data: list[UserAdminPublic]


class UserRolesUpdate(_Request):
    roles: list[str] = Field(min_length=1, max_length=6)


class UserStateUpdate(_Request):
    state: Literal["active", "locked", "closed"]
