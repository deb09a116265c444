"""Fixtures of the identity integration tests: the sessions part on a SQLite file in tmp_path
(and on a fresh PostgreSQL database), with a test clock, a local master key file and an
in-memory audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kit.services import POSTGRES, fresh_postgres_database, require
from tradehall.adapters.crypto.local_keys import LocalKeyFile
from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.sessions import SqlAlertStore, SqlSessionStore, SqlSigningKeyStore
from tradehall.compliance.audit import MemoryAuditLog
from tradehall.compliance.keys import KeyProvider
from tradehall.identity.alerts import AlertService
from tradehall.identity.ports import UserRecord
from tradehall.identity.sessions import SessionConfig, SessionService
from tradehall.identity.tokens import TokenConfig, TokenService
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock
from tradehall.kernel.ids import AccountId, random_uuid

START_NS = 1_800_000_000 * NANOS_PER_SECOND


@dataclass
class Parts:
    db: SqlDatabase
    clock: TestClock
    audit: MemoryAuditLog
    provider: KeyProvider
    tokens: TokenService
    sessions: SessionService
    alerts: AlertService

    def token_service(self, config: TokenConfig | None = None) -> TokenService:
        """Another token service on the same database (a second process, a restart)."""
        return TokenService(SqlSigningKeyStore(self.db.engine, self.db.writer), self.clock,
                            self.audit, config or self.tokens.config, provider=self.provider)

    def session_service(self) -> SessionService:
        return SessionService(SqlSessionStore(self.db.engine, self.db.writer), self.clock,
                              self.audit, self.alerts, self.sessions.config)

    async def add_user(self, username: str) -> UserRecord:
        user = UserRecord(user_id=random_uuid(), username=username, password_hash="-",
                          account=AccountId(username), roles=["trader"],
                          created_ns=self.clock.now_ns())
        await self.db.identity.add_user(user)
        return user


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'readmodels.sqlite3'}"
        return
    require(POSTGRES)
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def parts(db_url: str, tmp_path: Path) -> AsyncIterator[Parts]:
    """The token and session services over one migrated database."""
    db = await SqlDatabase.open(db_url)
    clock = TestClock(START_NS)
    audit = MemoryAuditLog(clock.now_ns)
    provider = LocalKeyFile.open(tmp_path / "keys.json", create=True)
    tokens = TokenService(SqlSigningKeyStore(db.engine, db.writer), clock, audit,
                          TokenConfig(access_ttl_s=900, rotation_age_s=86_400),
                          provider=provider)
    alerts = AlertService(SqlAlertStore(db.engine, db.writer), clock)
    sessions = SessionService(SqlSessionStore(db.engine, db.writer), clock, audit, alerts,
                              SessionConfig(refresh_ttl_s=3_600, access_ttl_s=900))
    await tokens.load()
    await sessions.load()
    try:
        yield Parts(db, clock, audit, provider, tokens, sessions, alerts)
    finally:
        await db.close()
