"""The matching engine: one deterministic `apply(command, ts_event) -> events` for all symbols.

Owns instruments, books, stop orders, the ledger and positions. Every command is validated
first and changes nothing when refused. Price-time priority per symbol; the incoming order's
self-trade prevention mode decides what happens when it meets its own account. Engine time is
only the `ts_event` given with each command: DAY orders expire when that time passes their
trading day's end (UTC midnight). No I/O, no clock, no randomness: called only from a host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappop
from typing import Any, Final, cast

from tradehall.engine.book import Book, OrderBook
from tradehall.engine.orderflow import OrderFlow
from tradehall.engine.orders import Order, OrderState
from tradehall.kernel.clock import NANOS_PER_DAY
from tradehall.kernel.errors import InvalidInput
from tradehall.kernel.ids import (
    FEE_ACCOUNT,
    INSURANCE_ACCOUNT,
    SYSTEM_ACCOUNTS,
    AccountId,
    AssetCode,
    ClientOrderId,
    OrderId,
    Symbol,
)
from tradehall.ledger.model import Asset, Balance
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import (
    DEFAULT_ASSET_SCALE,
    InstrumentKind,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from tradehall.trading.positions import Position

BookFactory = Callable[[str], Book]
MAX_ASSET_SCALE = 18
HOUSE_SUFFIX = "~h"
"""Appended to a manual fill's client order id for the house's side."""


class _OffBook(Book):
    """Stands in for the book in a manual fill: the house's side never rests."""

    __slots__ = ()

    def reduce(self, order: Order, qty: int) -> None:
        order.leaves -= qty  # as a book does for its maker; there is no level to update


_OFF_BOOK = _OffBook()
# C statics when compiled: `c.SubmitOrder` would be a module attribute lookup per command.
_SubmitOrder: Final = c.SubmitOrder
_CancelOrder: Final = c.CancelOrder
_NO_HOLD = Balance(AccountId(""), AssetCode(""))  # until the order is admitted
# The operator funds and draws down the insurance fund like an account, and collects the fees
# (a withdrawal from `@fees`); no other system account is ever a transfer's account.
_DEPOSITS_TO: Final = frozenset({INSURANCE_ACCOUNT})
_WITHDRAWALS_FROM: Final = frozenset({INSURANCE_ACCOUNT, FEE_ACCOUNT})


class MatchingEngine(OrderFlow):
    """Applies commands in sequence and returns the events each one caused."""

    def __init__(self, book_factory: BookFactory = OrderBook) -> None:
        super().__init__()
        self.book_factory = book_factory
        self._handlers: dict[type, Callable[[Any, int], None]] = {
            c.SubmitOrder: self._submit,
            c.CancelOrder: self._cancel,
            c.AmendOrder: self._amend,
            c.CancelAll: self._cancel_all,
            c.ClosePosition: self._close_position,
            c.ManualFill: self._manual_fill,
            c.Deposit: self._deposit,
            c.Withdraw: self._withdraw,
            c.AddAsset: self._add_asset,
            c.AddInstrument: self._add_instrument,
            c.SetInstrumentStatus: self._set_status,
            c.AdvanceTime: self._advance_time,
            c.ConfigureEngine: self._configure,
        }

    def apply(self, command: c.EngineCommand, ts_event: int) -> list[e.EngineEvent]:
        """Apply one command at engine time `ts_event`; return the events, in order."""
        out: list[e.EngineEvent] = []
        self._out = out
        if ts_event < self.now_ns:
            ts_event = self.now_ns  # engine time never runs backwards
        self.now_ns = ts_event
        retired, window = self.retired, self.client_id_retention_ns
        if window and retired and retired.first_done_ns() + window <= ts_event:
            self.prune_client_ids(ts_event)
        if self.heaps_due:
            self.compact_heaps()
        if self.expiry and self.expiry[0][0] <= ts_event:
            self._expire_due(ts_event)
        # The frequent commands first, as direct calls (native ones when compiled). Commands
        # are never subclassed, so the exact type decides: `isinstance` on a msgspec struct
        # type that does not match goes through the metaclass (~200 instructions).
        kind = type(command)
        if kind is _SubmitOrder:
            self._submit(cast(c.SubmitOrder, command), ts_event)
        elif kind is _CancelOrder:
            self._cancel(cast(c.CancelOrder, command), ts_event)
        else:
            self._handlers[type(command)](command, ts_event)
        return out

    def apply_batch(self, batch: Sequence[tuple[c.EngineCommand, int]],
                    ) -> list[list[e.EngineEvent]]:
        """Apply `(command, ts_event)` pairs in order; return each one's events, as `apply`
        would. One call per batch: compiled, the loop and the calls stay in native code."""
        return [self.apply(command, ts) for command, ts in batch]  # a native call each

    # -- Time ------------------------------------------------------------------------------

    def _advance_time(self, command: c.AdvanceTime, ts: int) -> None:
        pass  # expiry already ran in apply()

    def _configure(self, command: c.ConfigureEngine, ts: int) -> None:
        retention = command.client_order_id_retention_ns
        if not 0 <= retention <= MAX_RETENTION_NS:
            self._reject_command("configure_engine", None, (
                "invalid_retention",
                f"client order id retention must be 0 to {MAX_RETENTION_NS} ns"))
            return
        self.client_id_retention_ns = retention
        self._out.append(e.EngineConfigured(client_order_id_retention_ns=retention))
        self.prune_client_ids(ts)  # a shorter window frees ids at once

    def _expire_due(self, ts: int) -> None:
        heap = self.expiry
        while heap and heap[0][0] <= ts:
            _, order_id = heappop(heap)
            order = self.orders_by_id.get(OrderId(order_id))
            if order is None or order.state is OrderState.DONE:
                continue
            self._finish(order)
            self._out.append(e.OrderExpired(
                order_id=order.order_id, account=order.account,
                client_order_id=order.client_order_id, symbol=order.symbol,
                remaining_qty=order.leaves))

    def _close_position(self, command: c.ClosePosition, ts: int) -> None:
        pos = self.positions.get((command.account, command.symbol))
        if pos is None or pos.net_qty == 0:
            self._reject_command("close_position", command.account, (
                "no_position", f"no open position in {command.symbol}"),
                command.client_order_id)
            return
        self._submit(c.SubmitOrder(
            account=command.account, client_order_id=command.client_order_id,
            symbol=command.symbol, side=Side.SELL if pos.net_qty > 0 else Side.BUY,
            order_type=OrderType.MARKET, qty=abs(pos.net_qty),
            time_in_force=TimeInForce.IOC, reduce_only=True), ts)

    def _manual_fill(self, command: c.ManualFill, ts: int) -> None:
        """Settle a desk trade between an account and the house, off the book: its price was
        agreed elsewhere, so it leaves the book's last price (and all it drives) alone."""
        leg = c.SubmitOrder(
            account=command.account, client_order_id=command.client_order_id,
            symbol=command.symbol, side=command.side, order_type=OrderType.LIMIT,
            qty=command.qty, price=command.price, time_in_force=TimeInForce.IOC,
            reduce_only=command.reduce_only, stp=SelfTradePrevention.NONE)
        if self._repeated_fill(command, leg):
            return
        house = c.SubmitOrder(
            account=command.counterparty,
            client_order_id=ClientOrderId(command.client_order_id + HOUSE_SUFFIX),
            symbol=command.symbol, side=Side.BUY if command.side is Side.SELL else Side.SELL,
            order_type=OrderType.LIMIT, qty=command.qty, price=command.price,
            time_in_force=TimeInForce.IOC, stp=SelfTradePrevention.NONE)
        taker = Order(OrderId(0), leg, _NO_HOLD)
        maker = Order(OrderId(0), house, _NO_HOLD)
        market = self.markets.get(command.symbol)
        inst = None if market is None else market.inst
        taker.market = maker.market = market
        reason = self._check_order(taker, inst) or self._check_order(maker, inst)
        if reason is None:
            reason = self._check_manual(command, house)
        if reason is not None:
            self._reject(leg, reason)
            return
        assert inst is not None
        if not self._admit(taker, inst, self.accounts.get(taker.account)):
            return
        # The house cannot pay: nothing trades.
        if not self._admit(maker, inst, self.accounts.get(maker.account)):
            self._cancel_order(taker, "counterparty_insufficient_funds")
            return
        self._settle_manual(inst, taker, maker, command.price)

    def _settle_manual(self, inst: Instrument, taker: Order, maker: Order, price: int) -> None:
        qty = taker.leaves
        if taker.reduce_only:
            qty = min(qty, self._reducible(taker, inst))
        if qty:
            qty = self._affordable(taker, inst, price, qty)
        if qty:
            self._fill(inst, _OFF_BOOK, maker, taker, price, qty, off_book=True)
        for order in (taker, maker):
            if order.state is not OrderState.DONE:
                if order.leaves == 0:
                    self._finish(order)
                else:
                    self._cancel_order(order, "unfilled")

    def _repeated_fill(self, command: c.ManualFill, leg: c.SubmitOrder) -> bool:
        """A repeat answers like a repeated order (the original, or a refusal)."""
        seen = self.client_ids.get(command.account)
        entry = None if seen is None else seen.get(command.client_order_id)
        if entry is None:
            return False
        if entry.command == leg:
            self._out.append(e.OrderDuplicate(order_id=entry.order_id, account=command.account,
                                              client_order_id=command.client_order_id))
        else:
            self._reject(leg, ("duplicate_client_order_id",
                               "client order id already used with other content"))
        return True

    def _check_manual(self, command: c.ManualFill,
                      house: c.SubmitOrder) -> tuple[str, str] | None:
        if command.counterparty == command.account:
            return ("invalid_counterparty", "the house cannot trade with itself")
        if command.price <= 0:
            return ("invalid_price", "price must be positive")
        register = self.client_ids.get(command.counterparty)
        if register is not None and register.get(house.client_order_id) is not None:
            return ("duplicate_client_order_id", "the house side's id is taken")
        return None

    # -- Funds -----------------------------------------------------------------------------

    def _deposit(self, command: c.Deposit, ts: int) -> None:
        reason = self._check_transfer(command.account, command.asset, command.amount,
                                      _DEPOSITS_TO)
        if reason:
            self._reject_command("deposit", command.account, reason)
            return
        bal = self.ledger.balance(command.account, command.asset)
        if bal.available + bal.held + command.amount > MAX_BALANCE:
            self._reject_command("deposit", command.account,
                                 ("balance_overflow", "the balance would exceed the maximum"))
            return
        self.ledger.deposit(command.account, command.asset, command.amount)
        self._out.append(e.Deposited(account=command.account, asset=command.asset,
                                     amount=command.amount, available=bal.available))

    def _withdraw(self, command: c.Withdraw, ts: int) -> None:
        reason = self._check_transfer(command.account, command.asset, command.amount,
                                      _WITHDRAWALS_FROM)
        if reason:
            self._reject_command("withdraw", command.account, reason)
            return
        bal = self.ledger.peek(command.account, command.asset)
        if bal is None or not self.ledger.withdraw(bal, command.amount):
            available = 0 if bal is None else bal.available
            self._reject_command("withdraw", command.account, (
                "insufficient_funds",
                f"withdrawal of {command.amount} minor units exceeds the {available} available"))
            return
        self._out.append(e.Withdrawn(account=command.account, asset=command.asset,
                                     amount=command.amount, available=bal.available))

    def _check_transfer(self, account: AccountId, asset: AssetCode, amount: int,
                        system: frozenset[AccountId]) -> tuple[str, str] | None:
        # `system`: the system accounts this direction of transfer may name.
        if (account in SYSTEM_ACCOUNTS and account not in system) or not account:
            return ("invalid_account", f"{account!r} is not a user account")
        if asset not in self.assets:
            return ("unknown_asset", f"asset {asset} is not defined")
        if amount <= 0 or amount > MAX_BALANCE:
            return ("invalid_amount", f"amount must be between 1 and {MAX_BALANCE} minor units")
        return None

    # -- Reference data --------------------------------------------------------------------

    def _add_asset(self, command: c.AddAsset, ts: int) -> None:
        if command.asset in self.assets:
            self._reject_command("add_asset", None, ("asset_exists",
                                                     f"asset {command.asset} exists"))
            return
        if not command.asset or not 0 <= command.scale <= MAX_ASSET_SCALE:
            self._reject_command("add_asset", None, (
                "invalid_asset", f"scale must be between 0 and {MAX_ASSET_SCALE}"))
            return
        self.assets[command.asset] = Asset(command.asset, command.scale)
        self._out.append(e.AssetAdded(asset=command.asset, scale=command.scale))

    def _add_instrument(self, command: c.AddInstrument, ts: int) -> None:
        spec = command.spec
        if spec.symbol in self.instruments:
            self._reject_command("add_instrument", None, (
                "instrument_exists", f"instrument {spec.symbol} exists"))
            return
        if spec.kind == InstrumentKind.BINARY_OPTION:
            self._reject_command("add_instrument", None, (
                "unsupported_kind", "binary options are not supported yet"))
            return
        if not spec.symbol or spec.base == spec.quote:
            self._reject_command("add_instrument", None, (
                "invalid_instrument", "symbol must be set and base differ from quote"))
            return
        for code in (spec.base, spec.quote):
            if code not in self.assets:
                self._add_asset(c.AddAsset(asset=code, scale=DEFAULT_ASSET_SCALE), ts)
        try:
            inst = Instrument(spec, self.assets[spec.base].scale, self.assets[spec.quote].scale)
        except InvalidInput as exc:
            self._reject_command("add_instrument", None, (exc.code, exc.message))
            return
        self.add_market(inst, self.book_factory(spec.symbol))
        self._out.append(e.InstrumentAdded(spec=spec))

    def _set_status(self, command: c.SetInstrumentStatus, ts: int) -> None:
        inst = self.instruments.get(command.symbol)
        if inst is None:
            self._reject_command("set_instrument_status", None, (
                "unknown_symbol", f"instrument {command.symbol} is not defined"))
            return
        inst.status = command.status
        self._out.append(e.InstrumentStatusChanged(symbol=command.symbol,
                                                   status=command.status))

    # -- Queries (read-only, for hosts and tests) ------------------------------------------

    def open_order(self, account: AccountId, client_order_id: ClientOrderId) -> Order | None:
        """Return a live order by its client id."""
        mine = self.open_orders.get(account)
        return None if mine is None else mine.get(client_order_id)

    def book(self, symbol: Symbol) -> Any:
        """Return the book of a symbol."""
        return self.books[symbol]

    def position(self, account: AccountId, symbol: Symbol) -> Position | None:
        """Return a margin position if the account has one."""
        return self.positions.get((account, symbol))


MAX_BALANCE = 2**62
MAX_RETENTION_NS = 366 * NANOS_PER_DAY
