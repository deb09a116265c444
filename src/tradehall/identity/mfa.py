"""`TotpService`: TOTP second factor (RFC 6238), recovery codes, step-up for sensitive actions.

Enrolment stores a new secret, sealed with the master keys (`compliance/keys.py`, bound to
the user id), and answers the otpauth URI and its QR code; the first valid code confirms it
and returns ten recovery codes once (only their SHA-256 digests are kept). A code is accepted
at most once: the store remembers the last time step used per user and accepts only later
steps, in one conditional update. A recovery code works wherever a TOTP code does, once.

Sensitive actions (withdrawals, new API keys) call `require_step_up(user_id, code)` with the
code the caller sent in the `X-Tradehall-OTP` header. A user without 2FA passes, unless the
action is listed in `MfaConfig.required_for` (setting `require_mfa_for_withdrawals`), which
then refuses with `mfa_enrollment_required`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

import msgspec
import pyotp
import segno

from tradehall.compliance.audit import AuditLog, Outcome
from tradehall.compliance.keys import KeyProvider, open_sealed, seal
from tradehall.identity.context import RequestContext
from tradehall.kernel.clock import NANOS_PER_SECOND, Clock
from tradehall.kernel.errors import Conflict, Forbidden, Unauthorized

OTP_HEADER = "X-Tradehall-OTP"
RECOVERY_CODES = 10
_STEP_S = 30
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


class TotpRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A user's TOTP secret (sealed) and the last time step a code was accepted for."""

    user_id: str
    secret_sealed: bytes
    confirmed: bool
    created_ns: int
    last_step: int | None = None


class MfaStore(Protocol):
    """TOTP secrets and recovery code digests."""

    async def get_totp(self, user_id: str) -> TotpRecord | None: ...

    async def put_totp(self, record: TotpRecord) -> None:
        """Store an unconfirmed enrolment, replacing an earlier unconfirmed one."""
        ...

    async def confirm_totp(self, user_id: str, step: int, code_hashes: list[str]) -> bool:
        """Confirm an enrolment at a step and store its recovery codes; False if confirmed."""
        ...

    async def advance_step(self, user_id: str, step: int) -> bool:
        """Set the last used step if `step` is later than it; False when it is not."""
        ...

    async def use_recovery_code(self, user_id: str, code_hash: str, now_ns: int) -> bool:
        """Mark an unused recovery code used; False when there is no such unused code."""
        ...

    async def recovery_codes_left(self, user_id: str) -> int: ...

    async def delete_totp(self, user_id: str) -> None:
        """Remove the secret and the recovery codes."""
        ...


class MfaFlag(Protocol):
    """Where the user record's `mfa_enabled` flag is written (the account store)."""

    async def set_mfa_enabled(self, user_id: str, enabled: bool) -> None: ...


class MfaConfig(msgspec.Struct, frozen=True, kw_only=True):
    issuer: str = "tradehall"
    required_for: frozenset[str] = frozenset()
    """Step-up actions that users without 2FA may not perform (e.g. `withdrawal`)."""
    valid_window: int = 1
    """Steps of clock drift accepted either side of now."""


class TotpEnrolment(msgspec.Struct, frozen=True, kw_only=True):
    """What the user needs to add the secret to an authenticator app."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class TotpService:
    """2FA enrolment, checks and step-up."""

    def __init__(self, store: MfaStore, flag: MfaFlag, keys: KeyProvider, clock: Clock,
                 audit: AuditLog, config: MfaConfig | None = None) -> None:
        self.store = store
        self._flag = flag
        self._keys = keys
        self._clock = clock
        self._audit = audit
        self.config = config or MfaConfig()

    async def is_enabled(self, user_id: str) -> bool:
        """Return True when the user has confirmed 2FA."""
        record = await self.store.get_totp(user_id)
        return record is not None and record.confirmed

    async def enroll(self, user_id: str, username: str, ctx: RequestContext) -> TotpEnrolment:
        """Start (or restart) an enrolment; raise Conflict when 2FA is already on."""
        current = await self.store.get_totp(user_id)
        if current is not None and current.confirmed:
            raise Conflict("two-factor authentication is already enabled; disable it first",
                           code="mfa_already_enabled")
        secret = pyotp.random_base32()
        sealed = seal(self._keys, secret.encode(), _aad(user_id))
        await self.store.put_totp(TotpRecord(user_id=user_id, secret_sealed=sealed,
                                             confirmed=False, created_ns=self._clock.now_ns()))
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=self.config.issuer)
        await self._record("mfa.enrollment_started", user_id, ctx)
        return TotpEnrolment(secret=secret, otpauth_uri=uri,
                             qr_svg=segno.make(uri, error="m").svg_inline(scale=4))

    async def confirm(self, user_id: str, code: str, ctx: RequestContext) -> list[str]:
        """Turn 2FA on with a first valid code; return the recovery codes (shown once)."""
        record = await self.store.get_totp(user_id)
        if record is None or record.confirmed:
            raise Conflict("there is no enrolment to confirm: enroll first",
                           code="mfa_not_enrolling")
        step = self._matching_step(record, code)
        if step is None:
            await self._record("mfa.confirm_failed", user_id, ctx, outcome="failure")
            raise Unauthorized("the code is not valid", code="invalid_mfa_code")
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        if not await self.store.confirm_totp(user_id, step, [_digest(c) for c in codes]):
            raise Conflict("two-factor authentication is already enabled",
                           code="mfa_already_enabled")
        await self._flag.set_mfa_enabled(user_id, True)
        await self._record("mfa.enabled", user_id, ctx)
        return codes

    async def disable(self, user_id: str, code: str | None, ctx: RequestContext) -> None:
        """Turn 2FA off; needs a valid code (TOTP or recovery)."""
        await self.check(user_id, code, ctx)
        await self.store.delete_totp(user_id)
        await self._flag.set_mfa_enabled(user_id, False)
        await self._record("mfa.disabled", user_id, ctx)

    async def check(self, user_id: str, code: str | None,
                    ctx: RequestContext | None = None) -> None:
        """Accept a TOTP or recovery code once, or raise Unauthorized.

        `mfa_required` when no code was given, `invalid_mfa_code` when it is wrong, already
        used, or the user has no 2FA.
        """
        if not code or not code.strip():
            raise Unauthorized("a two-factor code is required", code="mfa_required")
        record = await self.store.get_totp(user_id)
        if record is None or not record.confirmed or not await self._accept(record, code):
            await self._record("mfa.code_rejected", user_id, ctx, outcome="failure")
            raise Unauthorized("the two-factor code is not valid", code="invalid_mfa_code")

    async def require_step_up(self, user_id: str, code: str | None, *, action: str = "",
                              ctx: RequestContext | None = None) -> None:
        """Raise Unauthorized (`mfa_required`, `invalid_mfa_code`) unless the step-up holds.

        Users without 2FA pass, unless `action` is in `MfaConfig.required_for` (Forbidden,
        `mfa_enrollment_required`).
        """
        if not await self.is_enabled(user_id):
            if action and action in self.config.required_for:
                raise Forbidden(f"enable two-factor authentication before a {action}",
                                code="mfa_enrollment_required")
            return
        await self.check(user_id, code, ctx)

    async def recovery_codes_left(self, user_id: str) -> int:
        return await self.store.recovery_codes_left(user_id)

    # -- Internals ------------------------------------------------------------------------------

    async def _accept(self, record: TotpRecord, code: str) -> bool:
        normalized = code.strip().replace(" ", "")
        if normalized.isdigit():
            step = self._matching_step(record, normalized)
            return step is not None and await self.store.advance_step(record.user_id, step)
        recovery = normalized.replace("-", "").lower()
        if len(recovery) != 10:
            return False
        used = await self.store.use_recovery_code(record.user_id, _digest(recovery),
                                                  self._clock.now_ns())
        if used:
            await self._audit.record("mfa.recovery_code_used", actor=record.user_id,
                                     target=record.user_id)
        return used

    def _matching_step(self, record: TotpRecord, code: str) -> int | None:
        code = code.strip().replace(" ", "")
        if len(code) != 6 or not code.isdigit():
            return None
        totp = pyotp.TOTP(open_sealed(self._keys, record.secret_sealed,
                                      _aad(record.user_id)).decode())
        now_step = self._clock.now_ns() // NANOS_PER_SECOND // _STEP_S
        window = self.config.valid_window
        for step in range(now_step + window, now_step - window - 1, -1):
            if record.last_step is not None and step <= record.last_step:
                continue
            if hmac.compare_digest(totp.at(step * _STEP_S), code):
                return step
        return None

    async def _record(self, action: str, user_id: str, ctx: RequestContext | None, *,
                      outcome: Outcome = "success") -> None:
        ctx = ctx or RequestContext()
        await self._audit.record(action, actor=user_id, target=user_id, ip=ctx.ip,
                                 user_agent=ctx.user_agent, outcome=outcome)


def _aad(user_id: str) -> bytes:
    return f"totp:{user_id}".encode()


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()
