"""Properties of the desk's state machine over random action sequences (hypothesis), on the
real SQL store (SQLite): dealers claim, release, execute, approve and reject, owners withdraw,
and time passes (claims expire). Whatever the sequence:

- a successful action moves a request along an allowed transition and bumps its version by one;
- a refused action changes nothing;
- final requests never change again;
- a four-eyes request is approved by a dealer other than the one who decided it;
- every successful action is audited once, and every status change alerts the owner once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradehall.adapters.sql import SqlDatabase
from tradehall.adapters.sql.fallback import SqlModeStore, SqlRequestStore
from tradehall.adapters.sql.sessions import SqlAlertStore
from tradehall.compliance.audit import MemoryAuditLog
from tradehall.fallback.model import (
    _ALLOWED,
    FINAL_STATUSES,
    FallbackRequest,
    RequestKind,
    RequestStatus,
)
from tradehall.fallback.service import DeskService, FallbackConfig, ModeService, RequestService
from tradehall.identity.alerts import AlertService
from tradehall.identity.ports import UserRecord
from tradehall.identity.principal import Principal
from tradehall.kernel.clock import NANOS_PER_SECOND, TestClock
from tradehall.kernel.errors import TradehallError
from tradehall.kernel.ids import AccountId
from tradehall.service.refdata import ReferenceData

DEALERS = [Principal(f"dealer-{i}", f"dealer{i}", AccountId(f"d{i}"), ("dealer",))
           for i in range(3)]
OWNERS = [Principal(f"user-{i}", f"user{i}", AccountId(f"acc{i}"), ("trader",))
          for i in range(2)]
REQUESTS = 4
FOUR_EYES = 1_000
OPS = ("claim", "release", "execute", "approve", "reject", "withdraw", "wait")

actions = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, REQUESTS - 1),
                             st.integers(0, len(DEALERS) - 1)), min_size=1, max_size=30)


def request(i: int, now: int) -> FallbackRequest:
    owner = OWNERS[i % len(OWNERS)]
    return FallbackRequest(
        id=f"00000000-0000-0000-0000-{i:012d}", account=owner.account, user_id=owner.user_id,
        username=owner.username, kind=RequestKind.CLOSE_POSITION, symbol=f"SYM{i}",
        side="long", known_qty=10, known_price=100, notional=500 if i % 2 else 5_000,
        created_ns=now, updated_ns=now)


async def run(url: str, steps: list[tuple[str, int, int]]) -> None:
    db = await SqlDatabase.open(url)
    try:
        clock = TestClock(1_000 * NANOS_PER_SECOND)
        audit = MemoryAuditLog(clock.now_ns)
        store = SqlRequestStore(db.engine, db.writer)
        alerts = AlertService(SqlAlertStore(db.engine, db.writer), clock)
        modes = ModeService(SqlModeStore(db.engine, db.writer), clock, audit)
        config = FallbackConfig(claim_ttl_s=60, four_eyes_notional=FOUR_EYES)
        refdata = ReferenceData()
        desk = DeskService(store, modes, db.read_model, refdata, clock, audit, alerts, config)
        users = RequestService(store, modes, db.read_model, refdata, clock, audit, alerts,
                               config)
        for owner in OWNERS:  # alerts belong to real users
            await db.identity.add_user(UserRecord(
                user_id=owner.user_id, username=owner.username, password_hash="x",
                account=owner.account, roles=["trader"], created_ns=clock.now_ns()))
        base = [request(i, clock.now_ns()) for i in range(REQUESTS)]
        await store.create(base, None)
        ok_actions = 0
        status_changes: dict[str, int] = {o.user_id: 0 for o in OWNERS}
        for op, index, who in steps:
            before = await store.get(base[index].id)
            assert before is not None
            if op == "wait":
                clock.advance(45 * NANOS_PER_SECOND)
                continue
            dealer = DEALERS[who]
            try:
                if op == "withdraw":
                    owner = next(o for o in OWNERS if o.account == before.account)
                    await users.withdraw(owner, before.id)
                elif op == "reject":
                    await desk.reject(dealer, before.id, code="contact_support")
                else:
                    await getattr(desk, op)(dealer, before.id)
            except TradehallError:
                after = await store.get(before.id)
                assert after == before, (op, before, after)
                continue
            after = await store.get(before.id)
            assert after is not None
            ok_actions += 1
            assert before.status not in FINAL_STATUSES, (op, before)
            assert after.version == before.version + 1
            assert after.status in _ALLOWED[before.status] or after.status is before.status
            if after.status is not before.status:
                status_changes[after.user_id] += 1
            if after.status is RequestStatus.AWAITING_APPROVAL:
                assert after.notional > FOUR_EYES
            if after.approved_by is not None:
                assert after.approved_by != after.decided_by
            if after.status is RequestStatus.APPROVED and after.notional > FOUR_EYES:
                assert after.approved_by is not None
        assert len(await audit.entries(limit=10_000)) == ok_actions
        for owner in OWNERS:
            got = await alerts.list_alerts(owner.user_id, limit=200)
            assert len(got) == status_changes[owner.user_id]
    finally:
        await db.close()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
def test_desk_actions_keep_the_state_machine(tmp_path: Path, steps: list[tuple[str, int, int]]
                                             ) -> None:
    path = tmp_path / "desk.sqlite3"
    path.unlink(missing_ok=True)
    asyncio.run(run(f"sqlite:///{path}", steps))
