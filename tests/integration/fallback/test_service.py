"""The fallback use cases on a real platform (engine thread, journal, SQLite read models), called
directly: the mode gate, filing rules, the desk's claims and decisions (claim expiry,
four-eyes, presets, bulk, races), the dispatcher checking the live state and recovering a
request the process left executing, and the health monitor's automatic fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.kit.clocks import ShiftedClock
from tests.kit.server import RunningServer, TestUser, running_platform
from tradehall.fallback.model import PlatformMode, RequestStatus
from tradehall.fallback.monitor import HealthMonitor
from tradehall.fallback.ports import QueueQuery
from tradehall.identity.principal import Principal
from tradehall.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, Rejected
from tradehall.kernel.ids import AccountId, ClientOrderId, OrderId
from tradehall.service.trading import PlaceOrder
from tradehall.trading import commands as c
from tradehall.trading.model import OrderType, Side, TimeInForce


def principal(user: TestUser) -> Principal:
    u = user.user
    return Principal(u.user_id, u.username, u.account, tuple(u.roles))


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def server(tmp_path: Path, clock: ShiftedClock) -> AsyncIterator[RunningServer]:
    async with running_platform(tmp_path, clock=clock,
                                fallback_four_eyes_notional=50_000_00) as running:
        yield running


async def place(server: RunningServer, user: TestUser, **fields: Any) -> str:
    """Place an order; return its public UUID once the read model has it."""
    sent: dict[str, Any] = {"symbol": "EUR-USD", "side": "buy", "qty": "10",
                            "price": "1.05000"}
    sent.update(fields)
    outcome = await server.platform.trading.place_order(user.user.account, PlaceOrder(**sent))
    await server.platform.read_model.wait_for(server.platform.engine.last_seq)
    record = await server.platform.read_model.get_order_by_client_id(
        user.user.account, outcome.client_order_id)
    assert record is not None
    return record.id


async def long_eur(server: RunningServer, qty: str = "100") -> tuple[TestUser, TestUser]:
    """Alice long `qty` EUR-USD at 1.10; the maker bids 1.09 for plenty."""
    alice = await server.create_user("alice")
    maker = await server.create_user("maker")
    await place(server, maker, side="sell", qty=qty, price="1.10000")
    await place(server, alice, side="buy", qty=qty, price="1.10000")
    await place(server, maker, side="buy", qty="10000", price="1.09000")
    return alice, maker


async def set_mode(server: RunningServer, mode: PlatformMode) -> None:
    await server.platform.fallback.modes.set(mode, actor="test", reason="test")


async def settled(server: RunningServer, request_id: str) -> Any:
    """Wait until the worker's dispatcher finished the request."""
    store = server.platform.fallback.store
    status = None
    for _ in range(200):
        found = await store.get(request_id)
        assert found is not None
        if not found.is_open:
            return found
        status = found.status
        await asyncio.sleep(0.05)
    raise AssertionError(f"request {request_id} still {status}")


# -- The mode gate -------------------------------------------------------------------------------

async def test_the_gate_refuses_by_mode(server: RunningServer) -> None:
    modes = server.platform.fallback.modes
    acc = AccountId("a")
    buy = c.SubmitOrder(account=acc, client_order_id=ClientOrderId("1"),
                        symbol=server.platform.refdata.instrument("EUR-USD").symbol,
                        side=Side.BUY, qty=5, price=100)
    reduce = msgspec.structs.replace(buy, reduce_only=True)
    spot_sell = msgspec.structs.replace(
        buy, symbol=server.platform.refdata.instrument("BTC-USD").symbol, side=Side.SELL,
        order_type=OrderType.MARKET, price=None, time_in_force=TimeInForce.IOC)
    margin_sell = msgspec.structs.replace(buy, side=Side.SELL)
    cancel = c.CancelOrder(account=acc, order_id=OrderId(1))
    lower = c.AmendOrder(account=acc, client_order_id=ClientOrderId("1"), qty=3)
    reprice = c.AmendOrder(account=acc, client_order_id=ClientOrderId("1"), price=99)

    def refused(command: c.EngineCommand, current_qty: int | None = None) -> str | None:
        try:
            modes.gate(command, current_qty=current_qty)
        except Rejected as exc:
            return exc.code
        return None

    assert {refused(x) for x in (buy, reduce, spot_sell, cancel, reprice)} == {None}
    await set_mode(server, PlatformMode.CLOSE_ONLY)
    assert refused(buy) == "close_only_mode"
    assert refused(margin_sell) == "close_only_mode"
    assert refused(reprice, 5) == "close_only_mode"
    assert refused(lower) == "close_only_mode"  # without the current qty it cannot tell
    assert refused(lower, 3) == "close_only_mode"
    assert [refused(x) for x in (reduce, spot_sell, cancel)] == [None, None, None]
    assert refused(lower, 5) is None
    await set_mode(server, PlatformMode.FALLBACK)
    assert {refused(x, 5) for x in (buy, reduce, spot_sell, cancel, lower)} == {
        "platform_fallback"}


# -- Filing --------------------------------------------------------------------------------------

async def test_filing_checks_ownership_size_and_mode(server: RunningServer) -> None:
    alice, maker = await long_eur(server)
    makers_order = await place(server, maker, side="buy", qty="1", price="1.00000")
    svc = server.platform.fallback.requests
    me = principal(alice)

    with pytest.raises(Rejected) as not_active:
        await svc.close_all(me)
    await set_mode(server, PlatformMode.FALLBACK)
    with pytest.raises(NotFound) as foreign:
        await svc.cancel_order(me, makers_order)
    with pytest.raises(InvalidInput) as too_big:
        await svc.close_position(me, "EUR-USD", qty="101")
    with pytest.raises(InvalidInput) as off_grid:
        await svc.close_position(me, "EUR-USD", qty="1.5")
    with pytest.raises(NotFound) as flat:
        await svc.close_position(me, "BTC-USD")
    with pytest.raises(InvalidInput) as bad_key:
        await svc.close_all(me, idempotency_key="has space")
    part = await svc.close_position(me, "EUR-USD", qty="40", note=" half, please ")

    assert not_active.value.code == "fallback_not_active"
    assert foreign.value.code == "order_not_found"
    assert too_big.value.code == "qty_above_position"
    assert off_grid.value.field == "qty"
    assert flat.value.code == "no_position"
    assert bad_key.value.code == "invalid_field"
    assert (part.qty, part.known_qty, part.side, part.note) == (40, 100, "long", "half, please")
    assert part.known_price == 110_000
    assert part.notional == 40 * 1_10  # 40 EUR at 1.10 in US cents
    assert await svc.list(principal(maker)) == []


async def test_cancel_all_and_close_all_skip_targets_with_open_requests(
        server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    first = await place(server, alice, price="1.01000")
    await place(server, alice, price="1.02000")
    await place(server, alice, symbol="BTC-USD", qty="0.1", price="100")
    svc = server.platform.fallback.requests
    me = principal(alice)
    await set_mode(server, PlatformMode.FALLBACK)

    single = await svc.cancel_order(me, first)
    eur = await svc.cancel_all(me, symbol="EUR-USD", idempotency_key="k1")
    again = await svc.cancel_all(me, symbol="EUR-USD", idempotency_key="k1")
    rest = await svc.cancel_all(me)
    closes = await svc.close_all(me)
    nothing = await svc.close_all(me)

    assert len(eur) == 1
    assert eur[0].order_id != first
    assert [r.id for r in again] == [r.id for r in eur]
    assert [r.symbol for r in rest] == ["BTC-USD"]
    assert [r.symbol for r in closes] == ["EUR-USD"]
    assert nothing == []
    assert len({r.batch_id for r in (*eur, *rest)}) == 2
    with pytest.raises(Conflict) as reused:
        await svc.cancel_all(me, idempotency_key="k1")
    assert reused.value.code == "idempotency_key_reused"
    assert len(await svc.list(me, open_only=True)) == 4
    assert single.status is RequestStatus.PENDING


async def test_concurrent_filings_for_one_target_store_one_request(
        server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    svc = server.platform.fallback.requests
    await set_mode(server, PlatformMode.FALLBACK)

    results = await asyncio.gather(
        *(svc.close_position(principal(alice), "EUR-USD") for _ in range(8)),
        return_exceptions=True)

    stored = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(stored) == 1
    assert len(refused) == 7
    assert {r.code for r in refused} == {"request_open_for_target"}


# -- The desk ------------------------------------------------------------------------------------

async def test_claims_block_other_dealers_until_they_expire(
        server: RunningServer, clock: ShiftedClock) -> None:
    alice, _ = await long_eur(server)
    d1 = principal(await server.create_user("dealer1", roles=("dealer",)))
    d2 = principal(await server.create_user("dealer2", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    filed = await server.platform.fallback.requests.close_position(principal(alice), "EUR-USD")
    desk = server.platform.fallback.desk

    with pytest.raises(Forbidden):
        await desk.claim(principal(alice), filed.id)
    claimed = await desk.claim(d1, filed.id)
    with pytest.raises(Conflict) as taken:
        await desk.claim(d2, filed.id)
    with pytest.raises(Conflict) as not_theirs:
        await desk.release(d2, filed.id)
    with pytest.raises(Conflict) as withdraw_claimed:
        await server.platform.fallback.requests.withdraw(principal(alice), filed.id)
    clock.advance(121)
    shown = await desk.get(d2, filed.id)
    stolen = await desk.claim(d2, filed.id)
    released = await desk.release(d2, filed.id)

    assert (claimed.status, claimed.claimed_by) == (RequestStatus.CLAIMED, "dealer1")
    assert taken.value.code == "request_claimed"
    assert not_theirs.value.code == "request_claimed"
    assert withdraw_claimed.value.code == "request_state"
    assert (shown.request.status, shown.sla) == (RequestStatus.PENDING, "warn")
    assert stolen.claimed_by == "dealer2"
    assert (released.status, released.claimed_by) == (RequestStatus.PENDING, None)


async def test_four_eyes_needs_a_second_dealer_above_the_notional(
        server: RunningServer) -> None:
    alice, _ = await long_eur(server, qty="100000")  # 110,000 USD, above 50,000
    d1 = principal(await server.create_user("dealer1", roles=("dealer",)))
    d2 = principal(await server.create_user("dealer2", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    big = await server.platform.fallback.requests.close_position(principal(alice), "EUR-USD")
    desk = server.platform.fallback.desk

    waiting = await desk.execute(d1, big.id)
    with pytest.raises(Forbidden) as same:
        await desk.approve(d1, big.id)
    approved = await desk.approve(d2, big.id)
    with pytest.raises(Conflict) as twice:
        await desk.approve(d2, big.id)

    assert waiting.status is RequestStatus.AWAITING_APPROVAL
    assert waiting.decided_by == "dealer1"
    assert same.value.code == "four_eyes_same_dealer"
    assert (approved.status, approved.approved_by) == (RequestStatus.APPROVED, "dealer2")
    assert twice.value.code == "request_state"


async def test_reject_takes_a_preset_or_a_reason_and_bulk_reports_each(
        server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    orders = [await place(server, alice, price=f"1.0{i}000") for i in range(3)]
    dealer = principal(await server.create_user("dealer1", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    svc = server.platform.fallback.requests
    filed = [await svc.cancel_order(principal(alice), o) for o in orders]
    withdrawn = await svc.withdraw(principal(alice), filed[2].id)
    desk = server.platform.fallback.desk

    with pytest.raises(InvalidInput) as unknown:
        await desk.reject(dealer, filed[0].id, code="because")
    with pytest.raises(InvalidInput) as empty:
        await desk.reject(dealer, filed[0].id, reason="   ")
    outcomes = await desk.bulk(dealer, [filed[0].id, filed[1].id, withdrawn.id, "nope"],
                               "reject", code="market_closed", reason="back at 9:00")

    assert unknown.value.code == "unknown_reject_code"
    assert empty.value.code == "reason_required"
    assert [(o.ok, o.code) for o in outcomes] == [
        (True, None), (True, None), (False, "request_state"), (False, "request_not_found")]
    done = outcomes[0].request
    assert done is not None
    assert (done.status, done.reject_code, done.reject_reason) == (
        RequestStatus.REJECTED, "market_closed", "back at 9:00")
    queue = await desk.queue(dealer, QueueQuery())
    assert queue == []
    alerts = await server.platform.auth.alerts.list_alerts(alice.user.user_id)
    kinds = [a.kind for a in alerts]
    assert kinds.count("fallback_rejected") == 2
    assert kinds.count("fallback_withdrawn") == 1
    assert kinds.count("fallback_pending") == 3


async def test_racing_dealers_decide_a_request_once(server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    dealers = [principal(await server.create_user(f"dealer{i}", roles=("dealer",)))
               for i in range(6)]
    await set_mode(server, PlatformMode.FALLBACK)
    filed = await server.platform.fallback.requests.close_position(principal(alice), "EUR-USD")
    desk = server.platform.fallback.desk

    results = await asyncio.gather(*(desk.execute(d, filed.id) for d in dealers),
                                   return_exceptions=True)

    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    entries = await server.platform.audit_trail.entries(action="desk.execute")
    assert len(entries) == 1


# -- The dispatcher ------------------------------------------------------------------------------

async def test_dispatch_checks_the_live_state_first(server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    hitter = await server.create_user("hitter")
    resting = await place(server, alice, side="buy", qty="10", price="1.09500")
    dealer = principal(await server.create_user("dealer1", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    svc, desk = server.platform.fallback.requests, server.platform.fallback.desk
    cancel = await svc.cancel_order(principal(alice), resting)
    close = await svc.close_position(principal(alice), "EUR-USD", qty="60")
    await desk.execute(dealer, cancel.id)
    await desk.execute(dealer, close.id)
    # Meanwhile (the engine still runs in a maintenance fallback) the order fills and the
    # position shrinks: the house trades through the back door.
    await set_mode(server, PlatformMode.NORMAL)
    await server.platform.fallback.modes.set(PlatformMode.FALLBACK, actor="t", reason="t")
    await server.platform.engine.execute(c.SubmitOrder(
        account=hitter.user.account, client_order_id=ClientOrderId("hit"),
        symbol=server.platform.refdata.instrument("EUR-USD").symbol, side=Side.SELL,
        order_type=OrderType.LIMIT, qty=10, price=109_500))
    await server.platform.engine.execute(c.SubmitOrder(
        account=alice.user.account, client_order_id=ClientOrderId("self-close"),
        symbol=server.platform.refdata.instrument("EUR-USD").symbol, side=Side.SELL,
        order_type=OrderType.MARKET, qty=70, time_in_force=TimeInForce.IOC, reduce_only=True))

    await set_mode(server, PlatformMode.NORMAL)
    canceled, closed = await settled(server, cancel.id), await settled(server, close.id)

    assert (canceled.status, canceled.reject_code) == (RequestStatus.REJECTED, "already_done")
    # 100 + 10 bought - 70 sold = 40 left; the request asked for 60, so 40 are closed.
    assert (closed.status, closed.executed_qty, closed.price) == (
        RequestStatus.EXECUTED, 40, 109_000)
    assert await server.platform.read_model.positions(alice.user.account) == []


async def test_dispatch_recovers_a_request_left_executing(server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    dealer = principal(await server.create_user("dealer1", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    filed = await server.platform.fallback.requests.close_position(principal(alice), "EUR-USD")
    approved = await server.platform.fallback.desk.execute(dealer, filed.id)
    store = server.platform.fallback.store
    # The process took it, the engine closed the position, and the process died before the
    # row was updated.
    executing = msgspec.structs.replace(approved, status=RequestStatus.EXECUTING,
                                        version=approved.version + 1)
    assert await store.update(executing, expected_version=approved.version)
    closed = await server.platform.engine.execute(c.ClosePosition(
        account=alice.user.account, client_order_id=ClientOrderId(filed.client_order_id),
        symbol=server.platform.refdata.instrument("EUR-USD").symbol))
    # The close's fill is projected before it is counted (a CI run read the fills too early).
    assert await server.platform.read_model.wait_for(closed.seq, 30)
    fills_before = await server.platform.read_model.list_fills(alice.user.account)

    await set_mode(server, PlatformMode.NORMAL)
    done = await settled(server, filed.id)

    assert (done.status, done.executed_qty, done.price) == (RequestStatus.EXECUTED, 100,
                                                             109_000)
    await server.platform.read_model.wait_for(server.platform.engine.last_seq)
    assert await server.platform.read_model.list_fills(alice.user.account) == fills_before
    assert await server.platform.fallback.dispatcher.run_once() == 0


async def test_no_liquidity_rejects_the_close_and_keeps_the_position(
        server: RunningServer) -> None:
    alice = await server.create_user("alice")
    maker = await server.create_user("maker")
    await place(server, maker, side="sell", qty="5", price="1.10000")
    await place(server, alice, side="buy", qty="5", price="1.10000")
    dealer = principal(await server.create_user("dealer1", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    filed = await server.platform.fallback.requests.close_position(principal(alice), "EUR-USD")
    await server.platform.fallback.desk.execute(dealer, filed.id)

    await set_mode(server, PlatformMode.NORMAL)
    done = await settled(server, filed.id)

    assert (done.status, done.reject_code) == (RequestStatus.REJECTED, "insufficient_liquidity")
    [position] = await server.platform.read_model.positions(alice.user.account)
    assert position.net_qty == 5


# -- The health monitor --------------------------------------------------------------------------

async def test_the_monitor_enters_and_leaves_an_automatic_fallback(
        server: RunningServer) -> None:
    modes = server.platform.fallback.modes
    await set_mode(server, PlatformMode.CLOSE_ONLY)
    healthy = [True]
    monitor = HealthMonitor(modes, lambda: healthy[0], failures_to_enter=3,
                            successes_to_leave=2)

    healthy[0] = False
    seen = [await monitor.step() for _ in range(3)]
    entered = modes.current
    healthy[0] = True
    back = [await monitor.step() for _ in range(2)]
    # An operator's fallback is never left by the monitor.
    await set_mode(server, PlatformMode.FALLBACK)
    kept = [await monitor.step() for _ in range(5)]

    assert seen == [PlatformMode.CLOSE_ONLY, PlatformMode.CLOSE_ONLY, PlatformMode.FALLBACK]
    assert (entered.automatic, entered.previous, entered.set_by) == (
        True, PlatformMode.CLOSE_ONLY, "health-monitor")
    assert back == [PlatformMode.FALLBACK, PlatformMode.CLOSE_ONLY]
    assert kept == [PlatformMode.FALLBACK] * 5
    trail = await server.platform.audit_trail.entries(action="platform.mode_set")
    assert [e.target for e in trail] == ["close_only", "fallback", "close_only", "fallback"]


# -- Manual execution ----------------------------------------------------------------------------

async def test_a_manual_execution_is_booked_against_the_house_once_the_engine_is_back(
        tmp_path: Path, clock: ShiftedClock) -> None:
    async with running_platform(tmp_path, clock=clock,
                                fallback_house_account="house") as server:
        alice, _ = await long_eur(server)
        resting = await place(server, alice, price="1.01000")
        await server.create_user("house")
        dealer = principal(await server.create_user("dealer1", roles=("dealer",)))
        await set_mode(server, PlatformMode.FALLBACK)
        svc, desk = server.platform.fallback.requests, server.platform.fallback.desk
        close = await svc.close_position(principal(alice), "EUR-USD", qty="60")
        cancel = await svc.cancel_order(principal(alice), resting)

        with pytest.raises(InvalidInput) as not_a_close:
            await desk.execute(dealer, cancel.id, price="1.10000")
        with pytest.raises(InvalidInput) as off_grid:
            await desk.execute(dealer, close.id, price="1.095001")
        done = await desk.execute(dealer, close.id, price="1.09500")
        with pytest.raises(Conflict) as held:
            await svc.close_position(principal(alice), "EUR-USD")
        await asyncio.sleep(1.2)  # in fallback nothing is booked
        [still] = await server.platform.read_model.positions(alice.user.account)

        assert not_a_close.value.code == "field_not_allowed"
        assert off_grid.value.field == "price"
        assert (done.status, done.execution, done.price, done.executed_qty) == (
            RequestStatus.EXECUTED, "manual", 109_500, 60)
        assert done.booking == "pending"
        assert held.value.code == "request_open_for_target"
        assert still.net_qty == 100

        await set_mode(server, PlatformMode.NORMAL)
        store = server.platform.fallback.store
        for _ in range(200):
            booked = await store.get(close.id)
            assert booked is not None
            if booked.booking != "pending":
                break
            await asyncio.sleep(0.05)
        await server.platform.read_model.wait_for(server.platform.engine.last_seq)

        assert booked is not None
        assert (booked.booking, booked.executed_qty) == ("booked", 60)
        positions = {p.account: p.net_qty for acc in ("alice", "house")
                     for p in await server.platform.read_model.positions(AccountId(acc))}
        assert positions == {"alice": 40, "house": 60}
        fills = await server.platform.read_model.list_fills(alice.user.account)
        manual = [f for f in fills if f.client_order_id == close.client_order_id]
        assert [(f.side, f.qty, f.price) for f in manual] == [("sell", 60, 109_500)]
        assert await server.platform.fallback.dispatcher.run_once() == 0


async def test_manual_execution_is_off_without_a_house_account(server: RunningServer) -> None:
    alice, _ = await long_eur(server)
    dealer = principal(await server.create_user("dealer1", roles=("dealer",)))
    await set_mode(server, PlatformMode.FALLBACK)
    filed = await server.platform.fallback.requests.close_position(principal(alice), "EUR-USD")

    with pytest.raises(Conflict) as off:
        await server.platform.fallback.desk.execute(dealer, filed.id, price="1.09000")

    assert off.value.code == "manual_execution_unavailable"
    assert (await server.platform.fallback.store.get(filed.id)) == filed
