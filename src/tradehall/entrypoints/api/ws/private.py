"""Private updates of one batch, grouped by account: order events, fills and balances.

Only accounts that someone listens to are rendered (`wanted`), each once per batch, so a
message is serialized once however many connections the account has. Derived from the batch's
events and its `balances` (what the engine says after the batch; nothing is recomputed here).
System accounts never appear. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Container

from tradehall.entrypoints.api.ws import protocol as p
from tradehall.entrypoints.api.ws.render import timestamp
from tradehall.kernel.ids import AccountId, order_uuid
from tradehall.service.messages import EventBatch
from tradehall.service.refdata import ReferenceData
from tradehall.trading import events as e
from tradehall.trading.model import Side

AccountUpdates = dict[AccountId, tuple[list[p.OrderUpdate], list[p.FillOut], list[p.BalanceOut]]]


def private_updates(batch: EventBatch, refdata: ReferenceData,
                    wanted: Container[AccountId]) -> AccountUpdates:
    """Group the batch's private updates by account, for the wanted accounts only."""
    out: AccountUpdates = {}
    for result in batch.results:
        ts = timestamp(result.ts_ns)
        for ev in result.events:
            if isinstance(ev, e.Trade):
                for account, update, fill in _trade(ev, refdata, ts, result.seq, wanted):
                    orders, fills, _ = _slot(out, account)
                    orders.append(update)
                    fills.append(fill)
                continue
            owner: AccountId | None = getattr(ev, "account", None)
            if owner is None or owner not in wanted:
                continue
            event_update = _order_update(ev, refdata, ts, result.seq)
            if event_update is not None:
                _slot(out, owner)[0].append(event_update)
    for bal in batch.balances:
        if bal.account in wanted:
            _slot(out, bal.account)[2].append(p.BalanceOut(
                asset=bal.asset, available=refdata.format_amount(bal.asset, bal.available),
                held=refdata.format_amount(bal.asset, bal.held), seq=batch.last_seq))
    return out


def _slot(out: AccountUpdates, account: AccountId) -> tuple[
        list[p.OrderUpdate], list[p.FillOut], list[p.BalanceOut]]:
    found = out.get(account)
    if found is None:
        found = out[account] = ([], [], [])
    return found


def _trade(ev: e.Trade, refdata: ReferenceData, ts: str, seq: int,
           wanted: Container[AccountId]) -> list[tuple[AccountId, p.OrderUpdate, p.FillOut]]:
    inst = refdata.instrument(ev.symbol)
    maker_side = Side.SELL if ev.taker_side == Side.BUY else Side.BUY
    sides = (
        (ev.maker_account, ev.maker_order_id, ev.maker_client_order_id, maker_side,
         ev.maker_fee, ev.maker_leaves_qty, "maker"),
        (ev.taker_account, ev.taker_order_id, ev.taker_client_order_id, Side(ev.taker_side),
         ev.taker_fee, ev.taker_leaves_qty, "taker"),
    )
    out = []
    price, qty = inst.format_price(ev.price), inst.format_qty(ev.qty)
    for account, order_id, client_id, side, fee, leaves, liquidity in sides:
        if account not in wanted:
            continue
        uuid, leaves_text = order_uuid(order_id), inst.format_qty(leaves)
        update = p.OrderUpdate(event="fill" if leaves == 0 else "partial_fill", order_id=uuid,
                               client_order_id=client_id, symbol=ev.symbol, side=side.value,
                               fill_price=price, fill_qty=qty, leaves_qty=leaves_text, ts=ts,
                               seq=seq)
        fill = p.FillOut(trade_id=ev.trade_id, order_id=uuid, client_order_id=client_id,
                         symbol=ev.symbol, side=side.value, price=price, qty=qty,
                         notional=inst.format_quote(ev.notional), fee=inst.format_quote(fee),
                         fee_asset=inst.quote, liquidity="maker" if liquidity == "maker"
                         else "taker", leaves_qty=leaves_text, ts=ts, seq=seq)
        out.append((account, update, fill))
    return out


def _order_update(ev: e.EngineEvent, refdata: ReferenceData, ts: str,
                  seq: int) -> p.OrderUpdate | None:
    if isinstance(ev, e.OrderAccepted):
        inst = refdata.instrument(ev.symbol)
        return p.OrderUpdate(
            event="accepted", order_id=order_uuid(ev.order_id), client_order_id=ev.client_order_id,
            symbol=ev.symbol, side=ev.side.value, order_type=ev.order_type.value,
            time_in_force=ev.time_in_force.value, qty=inst.format_qty(ev.qty),
            price=None if ev.price is None else inst.format_price(ev.price),
            stop_price=None if ev.stop_price is None else inst.format_price(ev.stop_price),
            ts=ts, seq=seq)
    if isinstance(ev, e.OrderCanceled | e.OrderExpired):
        inst = refdata.instrument(ev.symbol)
        canceled = isinstance(ev, e.OrderCanceled)
        return p.OrderUpdate(
            event="canceled" if canceled else "expired", order_id=order_uuid(ev.order_id),
            client_order_id=ev.client_order_id, symbol=ev.symbol,
            leaves_qty=inst.format_qty(ev.remaining_qty),
            reason=ev.reason if isinstance(ev, e.OrderCanceled) else None, ts=ts, seq=seq)
    if isinstance(ev, e.OrderAmended):
        inst = refdata.instrument(ev.symbol)
        return p.OrderUpdate(
            event="replaced", order_id=order_uuid(ev.order_id), client_order_id=ev.client_order_id,
            symbol=ev.symbol, price=None if ev.price is None else inst.format_price(ev.price),
            leaves_qty=inst.format_qty(ev.remaining_qty), ts=ts, seq=seq)
    if isinstance(ev, e.StopTriggered):
        inst = refdata.instrument(ev.symbol)
        return p.OrderUpdate(
            event="triggered", order_id=order_uuid(ev.order_id),
            client_order_id=ev.client_order_id, symbol=ev.symbol,
            fill_price=inst.format_price(ev.last_price), ts=ts, seq=seq)
    if isinstance(ev, e.OrderRejected):
        return p.OrderUpdate(event="rejected", client_order_id=ev.client_order_id,
                             symbol=ev.symbol, reason=ev.reason, message=ev.message, ts=ts,
                             seq=seq)
    return None
