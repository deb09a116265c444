"""An entry of an account's client order id register. No I/O.

A msgspec struct untracked by the cyclic garbage collector, not a tuple: the register keeps an
entry per order for the whole retention window (a day by default), and as tuples they were the
engine's main source of young-generation growth, so most collections ran because of them.
Not compiled with the engine (mypyc compiles classes, not msgspec structs); its fields are read
only on the rare paths (a repeated id, pruning, snapshots).
"""

from __future__ import annotations

import msgspec

from tradehall.kernel.ids import OrderId
from tradehall.trading.commands import SubmitOrder


class Registered(msgspec.Struct, frozen=True, gc=False):
    """The command an id was first used with, and the id of the order it made."""

    command: SubmitOrder
    order_id: OrderId
