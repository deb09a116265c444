"""Typed identifiers used across the platform.

Ids are `NewType`s over `str` or `int` so that mypy keeps an `OrderId` from being passed where a
`TradeId` is expected, at no run-time cost on the engine's hot path. Engine ids (orders, trades)
are assigned sequentially by the engine itself, so replay reproduces them exactly.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections import deque
from typing import NewType

AccountId = NewType("AccountId", str)
ClientOrderId = NewType("ClientOrderId", str)
Symbol = NewType("Symbol", str)
AssetCode = NewType("AssetCode", str)
OrderId = NewType("OrderId", int)
TradeId = NewType("TradeId", int)
Sequence = NewType("Sequence", int)

# System accounts of the ledger. They are not owned by a user and may never be traded from.
CUSTODY_ACCOUNT = AccountId("@custody")
FEE_ACCOUNT = AccountId("@fees")
# Counterparty of realized margin P&L; its balance is the open positions' unrealized P&L.
CLEARING_ACCOUNT = AccountId("@clearing")
# The insurance fund: liquidation fees go in, losses accounts cannot pay come out; never
# negative. The one system account an operator may deposit into and withdraw from.
INSURANCE_ACCOUNT = AccountId("@insurance")
SYSTEM_ACCOUNTS = frozenset({CUSTODY_ACCOUNT, FEE_ACCOUNT, CLEARING_ACCOUNT, INSURANCE_ACCOUNT})
# System accounts whose balance may be negative: they mirror value outside the books.
CONTRA_ACCOUNTS = frozenset({CUSTODY_ACCOUNT, CLEARING_ACCOUNT})

# Namespace of the UUIDs derived from engine ids (orders, accounts): a rebuilt read model gives
# every order the same UUID again.
_NAMESPACE = uuid.UUID("6f1d3c52-8a4e-5b7f-9c20-4e1a7d9b3f60")


def order_uuid(order_id: OrderId) -> str:
    """Return the stable public UUID of an engine order id."""
    return str(uuid.uuid5(_NAMESPACE, f"order:{order_id}"))


def account_uuid(account: AccountId) -> str:
    """Return the stable public UUID of an account."""
    return str(uuid.uuid5(_NAMESPACE, f"account:{account}"))


# Random bytes for `random_uuid`, read from the OS 4 KiB at a time: `os.urandom` releases the
# GIL, and taking it back behind a busy engine or projector thread cost ~0.1 ms per order id.
# `deque.popleft` is atomic, so threads never share a chunk; a forked child starts empty.
_ENTROPY_BLOCK = 4096
_entropy: deque[bytes] = deque()
os.register_at_fork(after_in_child=_entropy.clear)


def random_uuid() -> str:
    """Return a random (version 4) UUID, for ids the edge assigns, never inside the engine."""
    while True:
        try:
            raw = _entropy.popleft()
        except IndexError:
            block = os.urandom(_ENTROPY_BLOCK)
            _entropy.extend(block[i:i + 16] for i in range(0, _ENTROPY_BLOCK, 16))
            continue
        return str(uuid.UUID(bytes=raw, version=4))


def random_token(nbytes: int = 32) -> str:
    """Return a URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)
