"""`TotpService`: TOTP second factor (RFC 6238), recovery codes, step-up for sensitive actions.

Sensitive actions (withdrawals, new API keys) call `require_step_up(user_id, code)` with the
code the caller sent in the `X-Tradehall-OTP` header; it raises when the user has 2FA and the
code is missing or wrong. The identity issue fills this in.
"""

from __future__ import annotations

OTP_HEADER = "X-Tradehall-OTP"


class TotpService:
    """2FA enrolment, checks and step-up."""

    async def require_step_up(self, user_id: str, code: str | None) -> None:
        """Raise Unauthorized (`mfa_required`, `invalid_mfa_code`) unless the step-up holds."""
        del user_id, code
