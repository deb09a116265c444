"""Scenario tables: how long a client order id stays taken (open orders, then the retention
window of engine time after the order is done, configurable by a journaled command)."""

from __future__ import annotations

import pytest

from tests.kit.factories import ALICE, BOB, DAY_NS, T0, buy, cancel, configure, sell
from tests.kit.scenario import (
    UNCHANGED,
    Scenario,
    accepted,
    at,
    canceled,
    command_rejected,
    duplicate,
    ev,
    rejected,
    run_scenario,
    scenario_params,
    trade,
)
from tradehall.engine.matcher import BookFactory

DONE = T0 + 1  # when a1 is canceled below

SCENARIOS = [
    Scenario("finished_order_id_is_kept_for_the_window_then_free", [
        (at(T0, buy(ALICE, "a1", 1, 99_00)), [accepted("a1", order_id=1)]),
        (at(DONE, cancel(ALICE, "a1")), [canceled("a1", "requested")]),
        # Inside the default window of one day: same content is the original, other content
        # is refused, and neither changes anything.
        (at(DONE + DAY_NS - 1, buy(ALICE, "a1", 1, 99_00)), [duplicate("a1", order_id=1)]),
        UNCHANGED,
        (at(DONE + DAY_NS - 1, buy(ALICE, "a1", 2, 99_00)), [
            rejected("a1", "duplicate_client_order_id")]),
        UNCHANGED,
        # From the end of the window on, the id is free: a new order with other content.
        (at(DONE + DAY_NS, buy(ALICE, "a1", 2, 99_00)), [accepted("a1", order_id=2, qty=2)]),
        (buy(ALICE, "a1", 2, 99_00), [duplicate("a1", order_id=2)]),
    ]),
    Scenario("open_order_id_stays_taken_past_the_window", [
        (at(T0, buy(BOB, "b1", 1, 98_00)), [accepted("b1", order_id=1, account=BOB)]),
        (at(T0 + 3 * DAY_NS, buy(BOB, "b1", 1, 98_00)), [
            duplicate("b1", order_id=1, account=BOB)]),
        (buy(BOB, "b1", 2, 98_00), [rejected("b1", "duplicate_client_order_id")]),
        # Filled is done too: the window starts at the fill.
        (at(T0 + 3 * DAY_NS + 10, sell(ALICE, "a1", 1, 98_00)), [
            accepted("a1"), trade(1, 98_00, maker="b1", taker="a1")]),
        (at(T0 + 4 * DAY_NS + 9, buy(BOB, "b1", 2, 98_00)), [
            rejected("b1", "duplicate_client_order_id")]),
        (at(T0 + 4 * DAY_NS + 10, buy(BOB, "b1", 2, 98_00)), [
            accepted("b1", account=BOB, qty=2)]),
    ]),
    Scenario("retention_is_configured_by_a_command", [
        (at(T0, configure(0)), [ev("engine_configured", client_order_id_retention_ns=0)]),
        (at(T0, buy(ALICE, "a1", 1, 99_00)), [accepted("a1", order_id=1)]),
        (at(DONE, cancel(ALICE, "a1")), [canceled("a1", "requested")]),
        # 0 keeps ids for ever.
        (at(DONE + 30 * DAY_NS, buy(ALICE, "a1", 2, 99_00)), [
            rejected("a1", "duplicate_client_order_id")]),
        (at(DONE + 30 * DAY_NS, configure(-1)), [
            command_rejected("configure_engine", "invalid_retention")]),
        UNCHANGED,
        # A window that has already passed frees the id at once.
        (at(DONE + 30 * DAY_NS, configure(DAY_NS)), [
            ev("engine_configured", client_order_id_retention_ns=DAY_NS)]),
        (at(DONE + 30 * DAY_NS, buy(ALICE, "a1", 2, 99_00)), [
            accepted("a1", order_id=2, qty=2)]),
    ]),
]


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_client_id_scenario_when_run_on_each_book_emits_table_events(
        scenario: Scenario, book_factory: BookFactory) -> None:
    run_scenario(scenario, book_factory)
