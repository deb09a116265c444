"""Typed identifiers used across the platform.

Ids are `NewType`s over `str` or `int` so that mypy keeps an `OrderId` from being passed where a
`TradeId` is expected, at no run-time cost on the engine's hot path. Engine ids (orders, trades)
are assigned sequentially by the engine itself, so replay reproduces them exactly.
"""

from __future__ import annotations

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
