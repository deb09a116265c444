"""Typed identifiers used across the platform.

Ids are `NewType`s over `str` or `int` so that mypy keeps an `OrderId` from being passed where a
`TradeId` is expected, at no run-time cost on the engine's hot path. Engine ids (orders, trades)
are assigned sequentially by the engine itself, so replay reproduces them exactly.
"""

from __future__ import annotations

import secrets
import uuid
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
SYSTEM_ACCOUNTS = frozenset({CUSTODY_ACCOUNT, FEE_ACCOUNT, CLEARING_ACCOUNT})
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


def random_uuid() -> str:
    """Return a random UUID (for ids the edge assigns, never inside the engine)."""
    return str(uuid.uuid4())


def random_token(nbytes: int = 32) -> str:
    """Return a URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)
