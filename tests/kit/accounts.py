"""Helpers of the account, 2FA and login-abuse tests: mailed tokens from the outbox, logins,
TOTP codes for the server's clock."""

from __future__ import annotations

import re

import httpx
import pyotp

from tests.kit.clocks import ShiftedClock
from tests.kit.server import RunningServer
from tradehall.adapters.sql.accounts import SqlMailOutbox
from tradehall.identity.mail import OutboxEntry

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r"^Token: (\S+)$", re.MULTILINE)


async def outbox(server: RunningServer, to: str) -> list[OutboxEntry]:
    """Pending mails to an address."""
    mailer = server.platform.auth.users.mailer
    assert isinstance(mailer, SqlMailOutbox)
    return await mailer.pending(to=to)


async def mailed_token(server: RunningServer, to: str, kind: str) -> str:
    """The token of the newest pending mail of a kind to an address."""
    mails = [m for m in await outbox(server, to) if m.message.kind == kind]
    assert mails, f"no {kind} mail to {to}"
    found = _TOKEN.search(mails[-1].message.body)
    assert found is not None
    return found.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD,
                totp_code: str | None = None) -> httpx.Response:
    body: dict[str, str] = {"username": username, "password": password}
    if totp_code is not None:
        body["totp_code"] = totp_code
    return await client.post("/v1/auth/login", json=body)


async def bearer(client: httpx.AsyncClient, username: str, password: str = PASSWORD,
                 totp_code: str | None = None) -> dict[str, str]:
    """Log in and return the Authorization header of the session."""
    answer = await login(client, username, password, totp_code)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def totp_code(secret: str, clock: ShiftedClock) -> str:
    """The TOTP code of the server clock's current time step."""
    return pyotp.TOTP(secret).at(clock.unix_s())
