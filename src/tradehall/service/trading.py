"""Trading use cases shared by every edge (Alpaca-compatible API, native API, WebSocket, CLI).

Each use case converts what a caller sent (decimal strings or numbers already parsed exactly,
enum names as strings) into an engine command, sends it through the `EnginePort`, and reads the
command's events: a refusal raises the error the caller should react to, with the engine's
reason as the code (`order_not_found` -> NotFound, `duplicate_client_order_id` -> Conflict,
anything else -> Rejected). Nothing here parses HTTP or renders JSON. No I/O of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

from tradehall.kernel.errors import Conflict, InvalidInput, NotFound, Rejected
from tradehall.kernel.ids import AccountId, AssetCode, ClientOrderId, OrderId, random_uuid
from tradehall.service.messages import CommandResult
from tradehall.service.ports import EnginePort
from tradehall.service.refdata import ReferenceData
from tradehall.trading import commands as c
from tradehall.trading import events as e
from tradehall.trading.model import (
    DEFAULT_STP,
    InstrumentKind,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)
MAX_CLIENT_ORDER_ID = 64
_NOT_FOUND = frozenset({"order_not_found", "no_position", "unknown_symbol"})
_CONFLICT = frozenset({"duplicate_client_order_id"})


class CommandGate(Protocol):
    """Checks a user's trading command against the platform mode; raises to refuse it."""

    def __call__(self, command: c.EngineCommand, /, *,
                 current_qty: int | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """An order as an edge received it: values not yet converted to the engine's integers."""

    symbol: str
    side: str
    qty: object
    order_type: str = "limit"
    price: object | None = None
    stop_price: object | None = None
    time_in_force: str = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    stp: str | None = None
    client_order_id: str | None = None


@dataclass(slots=True)
class OrderOutcome:
    """What one order command did: acceptance (or the original when a duplicate), fills, end."""

    result: CommandResult
    order_id: OrderId
    client_order_id: ClientOrderId
    duplicate: bool = False
    accepted: e.OrderAccepted | None = None
    trades: list[e.Trade] = field(default_factory=list)
    canceled: e.OrderCanceled | None = None
    triggered: bool = False

    @property
    def filled_qty(self) -> int:
        return sum(t.qty for t in self.trades)


class TradingService:
    """The trading use cases of one platform."""

    def __init__(self, engine: EnginePort, refdata: ReferenceData) -> None:
        self.engine = engine
        self.refdata = refdata
        self.gate: CommandGate | None = None
        """Checks a user's trading command against the platform mode (fallback/service.py)."""

    async def _execute(self, command: c.EngineCommand, *,
                       current_qty: int | None = None) -> CommandResult:
        if self.gate is not None:
            self.gate(command, current_qty=current_qty)
        return await self.engine.execute(command)

    # -- Orders ---------------------------------------------------------------------------------

    def order_command(self, account: AccountId, req: PlaceOrder) -> c.SubmitOrder:
        """Convert an order request into an engine command; raise InvalidInput/NotFound."""
        inst = self.refdata.instrument(req.symbol)
        order_type = _enum(OrderType, req.order_type, "type")
        price = None if req.price is None else inst.price_to_ticks(req.price, "price")
        stop = None if req.stop_price is None else inst.price_to_ticks(req.stop_price,
                                                                          "stop_price")
        return c.SubmitOrder(
            account=account, client_order_id=self._client_order_id(req.client_order_id),
            symbol=inst.symbol, side=_enum(Side, req.side, "side"), order_type=order_type,
            qty=inst.qty_to_lots(req.qty, "qty"), price=price, stop_price=stop,
            time_in_force=_enum(TimeInForce, req.time_in_force, "time_in_force"),
            post_only=req.post_only, reduce_only=req.reduce_only,
            stp=DEFAULT_STP if req.stp is None else _enum(SelfTradePrevention, req.stp, "stp"))

    async def place_order(self, account: AccountId, req: PlaceOrder) -> OrderOutcome:
        """Submit an order; raise Rejected (engine reason as code) when refused."""
        return await self.submit(self.order_command(account, req))

    async def submit(self, command: c.SubmitOrder | c.ClosePosition) -> OrderOutcome:
        """Send an order command and sort its events into an outcome."""
        result = await self._execute(command)
        return order_outcome(result, command.client_order_id)

    async def cancel_order(self, account: AccountId, order_id: OrderId) -> CommandResult:
        """Cancel one open order by engine id; NotFound when it is not open (or not yours)."""
        result = await self._execute(c.CancelOrder(account=account, order_id=order_id))
        raise_on_rejection(result)
        return result

    async def cancel_all(self, account: AccountId, symbol: str | None = None) -> CommandResult:
        """Cancel every open order of the account, or of one symbol."""
        sym = None if symbol is None else self.refdata.instrument(symbol).symbol
        result = await self._execute(c.CancelAll(account=account, symbol=sym))
        raise_on_rejection(result)
        return result

    async def amend_order(self, account: AccountId, symbol: str,
                          client_order_id: ClientOrderId, *, qty: object | None = None,
                          price: object | None = None,
                          current_qty: int | None = None) -> CommandResult:
        """Change a resting order's total quantity and/or price (`symbol` gives the grid).

        `current_qty` (the order's total now, from the read model) lets the close-only mode
        tell a decrease from an increase.
        """
        if qty is None and price is None:
            raise InvalidInput("qty", "give a new qty or price", code="nothing_to_amend")
        inst = self.refdata.instrument(symbol)
        command = c.AmendOrder(
            account=account, client_order_id=client_order_id,
            qty=None if qty is None else inst.qty_to_lots(qty, "qty"),
            price=None if price is None else inst.price_to_ticks(price, "price"))
        result = await self._execute(command, current_qty=current_qty)
        raise_on_rejection(result)
        return result

    async def close_position(self, account: AccountId, symbol: str, *,
                             net_qty: int, qty: object | None = None,
                             client_order_id: str | None = None) -> OrderOutcome:
        """Close all (or `qty` of) a position with a reduce-only market order.

        `net_qty` is the caller's view of the position in lots (signed; from the read model):
        a spot holding is sold, a margin position is closed by the engine's `ClosePosition`
        when closed in full, or by a reduce-only market order for part of it.
        """
        inst = self.refdata.instrument(symbol)
        if net_qty == 0:
            raise NotFound(f"no open position in {inst.symbol}", code="no_position")
        lots = abs(net_qty) if qty is None else inst.qty_to_lots(qty, "qty")
        if lots > abs(net_qty):
            raise InvalidInput("qty", "is larger than the position", code="qty_above_position")
        cid = self._client_order_id(client_order_id)
        side = Side.SELL if net_qty > 0 else Side.BUY
        if inst.kind is InstrumentKind.MARGIN and lots == abs(net_qty):
            return await self.submit(c.ClosePosition(account=account, symbol=inst.symbol,
                                                     client_order_id=cid))
        reduce_only = inst.kind is InstrumentKind.MARGIN
        return await self.submit(c.SubmitOrder(
            account=account, client_order_id=cid, symbol=inst.symbol, side=side,
            order_type=OrderType.MARKET, qty=lots, time_in_force=TimeInForce.IOC,
            reduce_only=reduce_only))

    # -- Funds ----------------------------------------------------------------------------------

    async def deposit(self, account: AccountId, asset: str, amount: object) -> e.Deposited:
        """Credit an account from custody."""
        units = self.refdata.parse_amount(asset, amount)
        result = await self.engine.execute(c.Deposit(account=account, asset=AssetCode(asset),
                                                     amount=units))
        raise_on_rejection(result)
        return _only(result, e.Deposited)

    async def withdraw(self, account: AccountId, asset: str, amount: object) -> e.Withdrawn:
        """Debit an account's available amount to custody."""
        units = self.refdata.parse_amount(asset, amount)
        result = await self.engine.execute(c.Withdraw(account=account, asset=AssetCode(asset),
                                                      amount=units))
        raise_on_rejection(result)
        return _only(result, e.Withdrawn)

    # -- Helpers --------------------------------------------------------------------------------

    @staticmethod
    def _client_order_id(value: str | None) -> ClientOrderId:
        if value is None or value == "":
            return ClientOrderId(random_uuid())
        if len(value) > MAX_CLIENT_ORDER_ID or not value.isprintable() or value != value.strip():
            raise InvalidInput("client_order_id", f"must be 1-{MAX_CLIENT_ORDER_ID} printable "
                               "characters without surrounding spaces",
                               code="invalid_client_order_id")
        return ClientOrderId(value)


def order_outcome(result: CommandResult, client_order_id: ClientOrderId) -> OrderOutcome:
    """Sort an order command's events; raise the matching error when it was refused."""
    raise_on_rejection(result)
    outcome: OrderOutcome | None = None
    for ev in result.events:
        if isinstance(ev, e.OrderAccepted) and ev.client_order_id == client_order_id:
            outcome = OrderOutcome(result, ev.order_id, ev.client_order_id, accepted=ev)
        elif isinstance(ev, e.OrderDuplicate):
            return OrderOutcome(result, ev.order_id, ev.client_order_id, duplicate=True)
        elif outcome is None:
            continue
        elif isinstance(ev, e.Trade) and outcome.order_id in (ev.taker_order_id,
                                                               ev.maker_order_id):
            outcome.trades.append(ev)
        elif isinstance(ev, e.OrderCanceled) and ev.order_id == outcome.order_id:
            outcome.canceled = ev
        elif isinstance(ev, e.StopTriggered) and ev.order_id == outcome.order_id:
            outcome.triggered = True
    if outcome is None:
        raise Rejected("the engine gave no answer to the order", code="no_acceptance")
    return outcome


def raise_on_rejection(result: CommandResult) -> None:
    """Raise NotFound, Conflict or Rejected when the command was refused."""
    for ev in result.events:
        if isinstance(ev, e.OrderRejected | e.CommandRejected):
            code, message = ev.reason, ev.message
            if code in _NOT_FOUND:
                raise NotFound(message, code=code)
            if code in _CONFLICT:
                raise Conflict(message, code=code)
            raise Rejected(message, code=code)


def _only(result: CommandResult, kind: type[_T]) -> _T:
    for ev in result.events:
        if isinstance(ev, kind):
            return ev
    raise Rejected(f"the engine did not answer with {kind.__name__}", code="no_acceptance")


def _enum(kind: type[_E], value: object, field: str) -> _E:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value.lower())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(field, f"{value!r} is not one of {allowed}",
                           code="invalid_value") from None

