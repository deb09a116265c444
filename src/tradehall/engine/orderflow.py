"""Order handling of the matching engine: validate, hold, match, rest, cancel, amend, stops.

`OrderFlow` holds the engine's state and the order use cases; `MatchingEngine` adds dispatch,
funds and reference data on top. Settlement of each fill lives in `engine/settlement.py`.
No I/O; called only through `MatchingEngine.apply`.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any, Final

from msgspec import structs

from tradehall.engine import risk
from tradehall.engine.book import Book
from tradehall.engine.fill_or_kill import fills_completely
from tradehall.engine.liquidation import LIQUIDATION_PREFIX
from tradehall.engine.orders import (
    CANCEL_NEWEST,
    CANCEL_OLDEST,
    CLOSE_ONLY,
    DAY,
    FOK,
    HALTED,
    LIMIT,
    MAX_PRICE_TICKS,
    STOP,
    STOP_LIMIT,
    STP_NONE,
    TRADING,
    AccountState,
    Order,
    OrderState,
)
from tradehall.engine.register import Registered
from tradehall.engine.settlement import COMPACT_MIN, Settlement
from tradehall.kernel.ids import (
    SYSTEM_ACCOUNTS,
    AccountId,
    AssetCode,
    ClientOrderId,
    OrderId,
    Symbol,
)
from tradehall.kernel.numeric import format_units, step_for_scale
from tradehall.ledger.model import Balance
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.instrument import Instrument
from tradehall.trading.model import OrderType, SelfTradePrevention, Side, TimeInForce
from tradehall.trading.positions import Position

MAX_CLIENT_ORDER_ID: Final = 64
Reason = tuple[str, str]
_NO_ID: Final = OrderId(0)
_SYSTEM_ACCOUNTS: Final = SYSTEM_ACCOUNTS  # a C static when compiled, not a module lookup
_NO_HOLD: Final = Balance(AccountId(""), AssetCode(""))  # placeholder until an order is accepted

# Hot event classes as C statics when compiled (a module attribute lookup otherwise).
_OrderAccepted: Final = e.OrderAccepted
_OrderCanceled: Final = e.OrderCanceled
_OrderRejected: Final = e.OrderRejected
_OrderDuplicate: Final = e.OrderDuplicate
_Registered: Final = Registered
_astuple: Final = structs.astuple


class OrderFlow(Settlement):
    """Engine state plus the order use cases."""

    def _submit(self, cmd: c.SubmitOrder, ts: int) -> None:
        # The order is built first (it reads the command's fields once, natively); a refused
        # one is dropped and gets no id.
        order = Order(_NO_ID, cmd, _NO_HOLD)
        acct = self.accounts.get(order.account)  # None: the account never had an order
        if acct is not None:
            entry = acct.ids.get(order.client_order_id)
            if entry is not None:
                if entry.command == cmd:
                    self._out.append(_OrderDuplicate(order_id=entry.order_id,
                                                      account=order.account,
                                                      client_order_id=order.client_order_id))
                else:
                    self._reject(cmd, ("duplicate_client_order_id",
                                       "client order id already used with other content"))
                return
        market = self.markets.get(order.symbol)
        inst = None
        if market is not None:
            order.market = market
            inst = market.inst
        reason = self._check_order(order, inst)
        if reason is None:
            assert inst is not None
            reason = self._check_prices(order, inst)
        if reason is not None:
            self._reject(cmd, reason)
            return
        assert inst is not None
        self._accept(order, inst, acct, ts)

    def _reject(self, cmd: c.SubmitOrder, reason: Reason) -> None:
        self._out.append(_OrderRejected(account=cmd.account, client_order_id=cmd.client_order_id,
                                         symbol=cmd.symbol, reason=reason[0], message=reason[1]))

    def _check_order(self, order: Order, inst: Instrument | None) -> Reason | None:  # noqa: C901
        account = order.account
        if account in _SYSTEM_ACCOUNTS or not account:
            return ("invalid_account", f"{account!r} is not a user account")
        client_order_id = order.client_order_id
        if not client_order_id or len(client_order_id) > MAX_CLIENT_ORDER_ID:
            return ("invalid_client_order_id",
                    f"client order id must be 1 to {MAX_CLIENT_ORDER_ID} characters")
        if client_order_id.startswith(LIQUIDATION_PREFIX):
            return ("invalid_client_order_id",
                    f"client order ids starting with {LIQUIDATION_PREFIX!r} are the engine's")
        if inst is None:
            return ("unknown_symbol", f"instrument {order.symbol} is not defined")
        status = inst.status
        if status is not TRADING:
            if status is HALTED:
                return ("instrument_halted", f"{order.symbol} is halted")
            if status is CLOSE_ONLY and not order.reduce_only:
                return ("instrument_close_only",
                        f"{order.symbol} accepts only reduce-only orders")
        qty = order.leaves
        if qty < inst.min_lots:
            return ("qty_below_minimum", f"quantity must be at least {inst.min_lots} lots")
        if inst.max_lots and qty > inst.max_lots:
            return ("qty_above_maximum", f"quantity must be at most {inst.max_lots} lots")
        if order.reduce_only and not inst.is_margin:
            return ("reduce_only_not_supported", "reduce-only applies to margin instruments")
        if order.post_only and (order.order_type is not LIMIT or order.no_rest):
            return ("invalid_post_only", "post-only needs a GTC or DAY limit order")
        if order.reduce_only:
            pos = self.positions.get((account, inst.symbol))
            reducible = 0 if pos is None else pos.reducible(order.is_buy)
            if qty > reducible:
                return ("reduce_only_would_increase",
                        f"reduce-only quantity exceeds the {reducible} lots that can be reduced")
        return None

    def _check_prices(self, order: Order, inst: Instrument) -> Reason | None:
        kind = order.order_type
        price = order.price
        stop_price = order.stop_price
        if kind is LIMIT:
            needs_price, needs_stop = True, False
        elif order.is_market:
            needs_price, needs_stop = False, False
        else:
            needs_price, needs_stop = kind is STOP_LIMIT, True
        if needs_price != (price is not None):
            return ("missing_price", "a limit price is required") if needs_price else (
                "price_not_allowed", f"{kind.value} orders take no limit price")
        if needs_stop != (stop_price is not None):
            return ("missing_stop_price", "a stop price is required") if needs_stop else (
                "stop_price_not_allowed", f"{kind.value} orders take no stop price")
        if price is not None and not 0 < price <= MAX_PRICE_TICKS:
            return ("invalid_price", "price is out of range")
        if stop_price is not None and not 0 < stop_price <= MAX_PRICE_TICKS:
            return ("invalid_price", "price is out of range")
        if price is not None and inst.band_ppm:
            market = order.market
            assert market is not None  # the symbol exists
            last = market.last
            if risk.outside_band(inst, price, last):
                return ("price_out_of_band",
                        f"price is more than the band {inst.spec.price_band} away from the "
                        f"last trade {inst.format_price(last)}")
        if order.post_only and self._crosses(inst, order.is_buy, price):
            return ("post_only_would_cross", "a post-only order must not trade on arrival")
        return None

    def _crosses(self, inst: Instrument, is_buy: bool, price: int | None) -> bool:
        book = self.books[inst.symbol]
        level = book.best(not is_buy)
        if level is None:
            return False
        return price is None or (level.price <= price if is_buy else level.price >= price)

    # -- Acceptance and holds --------------------------------------------------------------

    def _accept(self, order: Order, inst: Instrument, acct: AccountState | None,
                ts: int) -> None:
        if not self._admit(order, inst, acct):
            return
        if order.stop_price is not None:
            self._park_stop(order, inst, ts)
        else:
            self._execute(order, inst, order.price, ts)
        market = order.market
        assert market is not None  # the symbol exists
        buys, sells = market.stops
        if buys or sells:
            self._trigger_stops(inst, ts)
        if inst.maint_ppm:
            self._trigger_liquidations(inst, ts)

    def _admit(self, order: Order, inst: Instrument, acct: AccountState | None) -> bool:
        """Hold the order's funds, give it an id and announce it; False (rejected) when the
        account cannot pay. `acct` is the account's indexes if it has them yet."""
        is_buy = order.is_buy
        margin = inst.is_margin
        account = order.account
        hold_asset = inst.quote if (is_buy or margin) else inst.base
        # Peek first: a refused order must not even create an empty balance.
        if acct is not None:
            existing = acct.balances.get(hold_asset)
        else:
            existing = self.ledger.peek(account, hold_asset)
            if existing is not None:
                acct = self.account_state(account)  # its first order
        available = 0 if existing is None else existing.available
        amount = self._hold_amount(order, inst, is_buy, available)
        # A reduce-only order may need nothing (no fee to pay); any other order needs funds.
        if existing is None or amount > available or (amount <= 0 and not order.reduce_only):
            scale = self.assets[hold_asset].scale
            self._reject(order.command, (
                "insufficient_funds",
                f"order needs {format_units(amount, step_for_scale(scale))} "
                f"{hold_asset}, {format_units(available, step_for_scale(scale))} available"))
            return False
        assert acct is not None  # a balance exists, so the account's indexes do
        self.ledger.hold(existing, amount)
        order.hold = existing
        order.held = amount
        order.owner = acct
        if not margin:
            receive_asset = inst.quote if not is_buy else inst.base
            receive = acct.balances.get(receive_asset)
            if receive is None:
                receive = self.ledger.balance(account, receive_asset)
            order.receive = receive
        self._announce(order, hold_asset, amount)
        return True

    def _announce(self, order: Order, hold_asset: AssetCode, amount: int) -> None:
        """Give a held order the next id, index it and emit its `order_accepted`."""
        order_id = OrderId(self.next_order_id)
        self.next_order_id += 1
        boxed: Any = order_id  # boxed once for every event, index and tuple below
        order.order_id = order_id
        order.boxed_id = boxed
        account = order.account
        owner = order.owner
        assert owner is not None  # admitted
        owner.ids.add(order.client_order_id, _Registered(order.command, boxed))
        # Positional, in field order: several times cheaper than keywords (events.py).
        self._out.append(_OrderAccepted(
            boxed, account, order.client_order_id, order.symbol, order.side,
            order.order_type, order.leaves, order.price, order.stop_price, order.time_in_force,
            order.post_only, order.reduce_only, order.stp, hold_asset, amount))

    def _hold_amount(self, order: Order, inst: Instrument, is_buy: bool,
                     available: int) -> int:
        margin = inst.is_margin
        if order.is_market and (is_buy or margin):
            return available  # released again when the match ends
        price = order.price
        if margin:
            if price is None:
                price = risk.protection_price(inst, order.stop_price or 0, is_buy)
            return risk.margin_hold(inst, self._margin_price(inst, price, is_buy), order.leaves,
                                    order.reduce_only)
        if not is_buy:
            return risk.sell_hold(inst, order.leaves)
        if price is not None:
            return risk.buy_hold(inst, price, order.leaves)
        return risk.buy_hold(inst, risk.protection_price(inst, order.stop_price or 0, True),
                             order.leaves)

    def _margin_price(self, inst: Instrument, price: int, is_buy: bool) -> int:
        """Price to hold margin at: a sell may fill above its limit, up to the best bid."""
        if is_buy:
            return price
        bid = self.books[inst.symbol].best(True)
        return price if bid is None or bid.price < price else bid.price

    # -- Matching ---------------------------------------------------------------------------

    def _execute(self, order: Order, inst: Instrument, limit: int | None, ts: int) -> None:
        """Match an incoming order, then rest, cancel or finish what is left of it."""
        market = order.market
        assert market is not None  # the symbol exists
        book = market.book
        if order.no_rest and order.time_in_force is FOK and not fills_completely(
                order, inst, book, limit, self.positions):
            self._cancel_order(order, "fok_unfillable")
        else:
            self._match(order, inst, book, limit)
        if order.state is OrderState.DONE:
            pass
        elif order.leaves == 0:
            self._finish(order)
        elif limit is None or order.no_rest or (
                order.order_type is STOP):
            self._cancel_order(order, "unfilled" if order.filled else "no_liquidity")
        elif inst.is_margin and not self._cover_rest(order, inst, limit):
            self._cancel_order(order, "insufficient_funds")
        else:
            book.add(order)
            owner = order.owner
            assert owner is not None  # admitted
            owner.open[order.client_order_id] = order
            self.orders_by_id[order.boxed_id] = order
            if order.time_in_force is DAY and not order.expire_ns:
                self.schedule_expiry(order, ts)

    def _cover_rest(self, order: Order, inst: Instrument, limit: int) -> bool:
        """Top up a margin order's hold to cover what rests; False if the funds fall short.

        A sell that filled above its limit (a stop-limit triggered into a higher bid) used
        more margin per lot than it held for, so the rest may be short of its hold.
        """
        required = self._hold_for_leaves(order, inst, limit, order.leaves)
        extra = required - order.held
        if extra <= 0:
            return True
        if not self.ledger.hold(order.hold, extra):
            return False
        order.held = required
        return True

    def _match(self, order: Order, inst: Instrument, book: Book, limit: int | None) -> None:  # noqa: C901
        # The FOK check (engine/fill_or_kill.py) repeats these steps on copies: change both.
        is_buy = order.is_buy
        maker_buys = not is_buy
        while order.leaves:
            maker = book.best_head(maker_buys)  # a native call: not through a bound method
            if maker is None:
                return
            price = maker.price
            assert price is not None  # resting orders are priced
            if limit is not None and (price > limit if is_buy else price < limit):
                return
            if maker.account == order.account and order.stp is not STP_NONE:
                if self._prevent_self_trade(order, maker):
                    return
                continue
            qty = min(order.leaves, maker.leaves)
            if maker.reduce_only:
                qty = min(qty, self._reducible(maker, inst))
                if qty == 0:
                    self._cancel_order(maker, "reduce_only_position_closed")
                    continue
            if order.reduce_only:
                qty = min(qty, self._reducible(order, inst))
                if qty == 0:
                    self._cancel_order(order, "reduce_only_position_closed")
                    return
            qty = self._affordable(order, inst, price, qty)
            if qty == 0:
                self._cancel_order(order, "insufficient_funds")
                return
            self._fill(inst, book, maker, order, price, qty)

    def _prevent_self_trade(self, order: Order, maker: Order) -> bool:
        """Apply the taker's STP mode; return True when the taker is done."""
        mode = order.stp
        if mode is not CANCEL_NEWEST:
            self._cancel_order(maker, "self_trade_prevention")
        if mode is not CANCEL_OLDEST:
            self._cancel_order(order, "self_trade_prevention")
            return True
        return False

    # -- Stops ------------------------------------------------------------------------------

    def _park_stop(self, order: Order, inst: Instrument, ts: int) -> None:
        order.state = OrderState.STOP
        stop = order.stop_price
        assert stop is not None
        market = order.market
        assert market is not None  # the symbol exists
        buys, sells = market.stops
        heap = buys if order.is_buy else sells
        heappush(heap, (stop if order.is_buy else -stop, order.order_id))
        if len(heap) > COMPACT_MIN and len(heap) > 2 * len(self.orders_by_id):
            self.heaps_due = True  # compacted before the next command
        owner = order.owner
        assert owner is not None  # admitted
        owner.open[order.client_order_id] = order
        self.orders_by_id[order.boxed_id] = order
        if order.time_in_force is DAY:
            self.schedule_expiry(order, ts)

    def _trigger_stops(self, inst: Instrument, ts: int) -> None:
        """Release every stop whose trigger the last trade price has reached, in order."""
        market = self.markets[inst.symbol]
        buys, sells = market.stops
        while buys or sells:
            last = market.last
            if not last:
                return
            if buys and buys[0][0] <= last:
                order_id = heappop(buys)[1]
            elif sells and -sells[0][0] >= last:
                order_id = heappop(sells)[1]
            else:
                return
            order = self.orders_by_id.get(OrderId(order_id))
            if order is None or order.state is not OrderState.STOP:
                continue
            owner = order.owner
            assert owner is not None  # a stop order was admitted
            del owner.open[order.client_order_id]
            del self.orders_by_id[order.boxed_id]
            order.state = OrderState.PENDING
            if inst.status is not TRADING and not order.reduce_only:
                # Close-only trades may reach a stop that would add risk: it dies instead.
                self._cancel_order(order, f"instrument_{inst.status.value}")
                continue
            self._out.append(e.StopTriggered(
                order_id=order.order_id, account=order.account,
                client_order_id=order.client_order_id, symbol=inst.symbol, last_price=last))
            stop = order.stop_price
            assert stop is not None
            limit = order.price if order.order_type is STOP_LIMIT else (
                risk.protection_price(inst, stop, order.is_buy))
            self._execute(order, inst, limit, ts)

    # -- Liquidations -----------------------------------------------------------------------

    def _trigger_liquidations(self, inst: Instrument, ts: int) -> None:
        """Liquidate every position whose liquidation price the last trade price has reached,
        the furthest past it first. One with nothing to trade against inside the collar stays
        queued, without events, and is tried again after the next order in the symbol."""
        symbol = inst.symbol
        market = self.markets[symbol]
        longs, shorts = market.liquidations
        if not (longs or shorts):
            return
        later: list[tuple[int, AccountId]] = []
        unfilled: list[Position] = []
        while (due := self._next_liquidation(symbol, longs, shorts)) is not None:
            entry, pos, last = due
            key = entry[0]
            limit = self._liquidation_limit(inst, key > 0, last)  # a short is closed by buying
            if limit is None:
                later.append(entry)
                continue
            pos.liquidation_key = 0  # its fills queue it again under its new price
            self._liquidate(inst, pos, abs(key), last, limit, ts)
            if pos.net_qty and not pos.liquidation_key:
                unfilled.append(pos)  # its own orders were the liquidity
            buys, sells = market.stops
            if buys or sells:
                self._trigger_stops(inst, ts)
        for entry in later:
            heappush(longs if entry[0] < 0 else shorts, entry)
        for pos in unfilled:
            self.track_liquidation(inst, pos)

    def _next_liquidation(self, symbol: Symbol, longs: list[tuple[int, AccountId]],
                          shorts: list[tuple[int, AccountId]],
                          ) -> tuple[tuple[int, AccountId], Position, int] | None:
        """Pop the next position due at the last price: (its entry, it, the last price)."""
        last = self.markets[symbol].last
        if not last:
            return None
        while True:
            if longs and -longs[0][0] >= last:
                entry = heappop(longs)
            elif shorts and shorts[0][0] <= last:
                entry = heappop(shorts)
            else:
                return None
            pos = self.positions.get((entry[1], symbol))
            # A stale entry (the position changed after it was queued) is dropped.
            if pos is not None and pos.liquidation_key == entry[0]:
                return entry, pos, last

    def _liquidation_limit(self, inst: Instrument, is_buy: bool, last: int) -> int | None:
        """The collar price a liquidation order on this side gets, or None when the book
        has nothing inside it."""
        level = self.books[inst.symbol].best(not is_buy)
        limit = risk.protection_price(inst, last, is_buy)
        if level is None or (level.price > limit if is_buy else level.price < limit):
            return None
        return limit

    def _liquidate(self, inst: Instrument, pos: Position, price: int, last: int, limit: int,
                   ts: int) -> None:
        """Cancel the account's orders in the symbol, then close the position with a
        reduce-only IOC order inside the stop collar around the last price."""
        account = pos.account
        symbol = inst.symbol
        mine = self.open_orders.get(account)
        if mine:
            for order in [o for o in mine.values() if o.symbol == symbol]:
                self._cancel_order(order, "liquidation")
        order_id = OrderId(self.next_order_id)  # what `_announce` gives it
        is_buy = pos.net_qty < 0
        command = c.SubmitOrder(
            account=account, client_order_id=ClientOrderId(f"{LIQUIDATION_PREFIX}{order_id}"),
            symbol=symbol, side=Side.BUY if is_buy else Side.SELL, order_type=OrderType.MARKET,
            qty=abs(pos.net_qty), time_in_force=TimeInForce.IOC, reduce_only=True,
            stp=SelfTradePrevention.NONE)
        order = Order(_NO_ID, command, self.ledger.balance(account, inst.quote))
        order.owner = self.account_state(account)
        order.market = self.markets[symbol]
        order.liquidation = True  # holds nothing: it only closes, its fee comes from the fill
        self._out.append(e.LiquidationTriggered(
            account=account, symbol=symbol, net_qty=pos.net_qty, liquidation_price=price,
            last_price=last, margin=pos.margin, order_id=order_id))
        self._announce(order, inst.quote, 0)
        self._execute(order, inst, limit, ts)

    # -- Cancel, amend ----------------------------------------------------------------------

    def _find(self, account: AccountId, client_order_id: ClientOrderId | None,
              order_id: OrderId | None) -> Order | None:
        if order_id is not None:
            order = self.orders_by_id.get(order_id)
            if order is None or order.account != account or (
                    client_order_id is not None and order.client_order_id != client_order_id):
                return None
            return order if order.state in (OrderState.RESTING, OrderState.STOP) else None
        if client_order_id is None:
            return None
        acct = self.accounts.get(account)
        return None if acct is None else acct.open.get(client_order_id)

    def _cancel(self, cmd: c.CancelOrder, ts: int) -> None:
        # One C call reads the fields (each attribute read is a generic lookup when compiled).
        account, client_order_id, order_id = _astuple(cmd)
        order = self._find(account, client_order_id, order_id)
        if order is None:
            self._reject_command("cancel_order", account, (
                "order_not_found", "no open order with that id for this account"),
                client_order_id)
            return
        self._cancel_order(order, "requested")

    def _cancel_all(self, cmd: c.CancelAll, ts: int) -> None:
        mine = self.open_orders.get(cmd.account, {})
        targets = [o for o in mine.values()
                   if cmd.symbol is None or o.symbol == cmd.symbol]
        targets.sort(key=lambda o: o.order_id)
        for order in targets:
            self._cancel_order(order, "cancel_all")

    def _cancel_order(self, order: Order, reason: str) -> None:
        self._finish(order)
        self._out.append(_OrderCanceled(order.boxed_id, order.account, order.client_order_id,
                                         order.symbol, order.leaves, reason))

    def _amend(self, cmd: c.AmendOrder, ts: int) -> None:
        acct = self.accounts.get(cmd.account)
        order = None if acct is None else acct.open.get(cmd.client_order_id)
        reason = self._check_amend(cmd, order)
        if reason is not None:
            self._reject_command("amend_order", cmd.account, reason, cmd.client_order_id)
            return
        assert order is not None
        assert order.price is not None
        inst = self.instruments[order.symbol]
        price = order.price if cmd.price is None else cmd.price
        leaves = order.leaves if cmd.qty is None else cmd.qty - order.filled
        required = self._hold_for_leaves(order, inst, price, leaves)
        delta = required - order.held
        if delta > 0 and not self.ledger.hold(order.hold, delta):
            self._reject_command("amend_order", cmd.account, (
                "insufficient_funds", f"amend needs {delta} more minor units"),
                cmd.client_order_id)
            return
        if delta < 0:
            self.ledger.release(order.hold, -delta)
        order.held = required
        book = self.books[inst.symbol]
        keep = price == order.price and leaves <= order.leaves
        self._out.append(e.OrderAmended(
            order_id=order.order_id, account=order.account,
            client_order_id=order.client_order_id, symbol=inst.symbol, price=price,
            remaining_qty=leaves, priority_kept=keep, hold_asset=order.hold.asset,
            held=required))
        if keep:
            book.reduce(order, order.leaves - leaves)
            return
        book.remove(order)
        owner = order.owner
        assert owner is not None  # resting
        del owner.open[order.client_order_id]
        del self.orders_by_id[order.boxed_id]
        order.state = OrderState.PENDING
        order.leaves = leaves
        order.price = price
        self._execute(order, inst, price, ts)
        self._trigger_stops(inst, ts)
        if inst.maint_ppm:
            self._trigger_liquidations(inst, ts)

    def _check_amend(self, cmd: c.AmendOrder, order: Order | None) -> Reason | None:
        if order is None:
            return ("order_not_found", "no open order with that client order id")
        if order.state is not OrderState.RESTING:
            return ("not_amendable", "only resting limit orders can be amended")
        if cmd.qty is None and cmd.price is None:
            return ("nothing_to_amend", "give a new qty, a new price, or both")
        inst = self.instruments[order.symbol]
        reason = self._check_amend_qty(cmd, order, inst) or self._check_amend_status(
            cmd, order, inst)
        if reason is not None:
            return reason
        if cmd.price is not None:
            if not 0 < cmd.price <= MAX_PRICE_TICKS:
                return ("invalid_price", "price is out of range")
            if risk.outside_band(inst, cmd.price, self.markets[inst.symbol].last):
                return ("price_out_of_band", "price is outside the instrument's band")
            if order.post_only and self._crosses(inst, order.is_buy, cmd.price):
                return ("post_only_would_cross", "a post-only order must not trade")
        return None

    @staticmethod
    def _check_amend_qty(cmd: c.AmendOrder, order: Order, inst: Instrument) -> Reason | None:
        if cmd.qty is None:
            return None
        if cmd.qty <= order.filled:
            return ("qty_not_above_filled", "the new quantity must exceed the filled quantity")
        if cmd.qty < inst.min_lots:
            return ("qty_below_minimum", f"quantity must be at least {inst.min_lots} lots")
        if inst.max_lots and cmd.qty > inst.max_lots:
            return ("qty_above_maximum", f"quantity must be at most {inst.max_lots} lots")
        return None

    @staticmethod
    def _check_amend_status(cmd: c.AmendOrder, order: Order, inst: Instrument) -> Reason | None:
        # A price change or a larger quantity is a new order in all but name; shrinking an
        # order only takes risk away, so it stays allowed as cancel does.
        grows = (cmd.price is not None and cmd.price != order.price) or (
            cmd.qty is not None and cmd.qty - order.filled > order.leaves)
        if not grows:
            return None
        if inst.status is HALTED:
            return ("instrument_halted", f"{inst.symbol} is halted: orders may only shrink")
        if inst.status is CLOSE_ONLY and not order.reduce_only:
            return ("instrument_close_only",
                    f"{inst.symbol} is close-only: orders may only shrink")
        return None

    def _hold_for_leaves(self, order: Order, inst: Instrument, price: int, leaves: int) -> int:
        if inst.is_margin:
            return risk.margin_hold(inst, self._margin_price(inst, price, order.is_buy), leaves,
                                    order.reduce_only)
        if order.is_buy:
            return risk.buy_hold(inst, price, leaves)
        return risk.sell_hold(inst, leaves)
