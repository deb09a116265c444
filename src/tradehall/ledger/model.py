"""Assets and the double-entry ledger.

Every owner holds, per asset, an `available` and a `held` amount in integer minor units. Money
only ever moves between two buckets by the same amount (a posting pair), so the total of each
asset over all buckets, the custody account included, is always zero: deposits are credited to
the owner and debited to `@custody`. Only two buckets may go below zero: `@custody`, which
mirrors the assets held outside the platform, and `@clearing`, the counterparty of realized
margin P&L, which mirrors the unrealized P&L of open positions. `@insurance`, the insurance
fund, pays `@clearing` what accounts could not pay of their losses, as far as it has funds.
A user's bucket never goes negative, nor does the fund: every method checks before it moves.
No I/O; called only from the engine.
"""

from __future__ import annotations

from collections.abc import Iterator

from tradehall.kernel.errors import InvariantViolation
from tradehall.kernel.ids import (
    CLEARING_ACCOUNT,
    CONTRA_ACCOUNTS,
    CUSTODY_ACCOUNT,
    FEE_ACCOUNT,
    INSURANCE_ACCOUNT,
    AccountId,
    AssetCode,
)


class Asset:
    """An asset and the number of decimals of its minor unit."""

    __slots__ = ("code", "scale")

    def __init__(self, code: AssetCode, scale: int) -> None:
        self.code = code
        self.scale = scale


class Balance:
    """One owner's amounts of one asset.

    Changed only by `Ledger` methods and by the engine's fill settlement
    (`engine/settlement.py`), which inlines its balanced posting pairs on the hot path.
    """

    __slots__ = ("account", "asset", "available", "held")

    def __init__(self, account: AccountId, asset: AssetCode) -> None:
        self.account = account
        self.asset = asset
        self.available = 0
        self.held = 0

    @property
    def total(self) -> int:
        return self.available + self.held


class Ledger:
    """All balances, by account, then asset."""

    __slots__ = ("_balances",)

    def __init__(self) -> None:
        # Two levels rather than (account, asset) keys: a tuple key is built, hashed and
        # compared element by element on every lookup (~700 instructions compiled); here the
        # asset lookup finds the instrument's own string by identity.
        self._balances: dict[AccountId, dict[AssetCode, Balance]] = {}

    def balance(self, account: AccountId, asset: AssetCode) -> Balance:
        """Return the balance, creating an empty one on first use."""
        assets = self._balances.get(account)
        if assets is None:
            assets = self._balances[account] = {}
        bal = assets.get(asset)
        if bal is None:
            bal = assets[asset] = Balance(account, asset)
        return bal

    def assets_of(self, account: AccountId) -> dict[AssetCode, Balance]:
        """Return the account's own dict of balances by asset (created empty on first use);
        the engine keeps it to reach an account's balances without the outer lookup."""
        assets = self._balances.get(account)
        if assets is None:
            assets = self._balances[account] = {}
        return assets

    def peek(self, account: AccountId, asset: AssetCode) -> Balance | None:
        """Return the balance if it exists, without creating it."""
        assets = self._balances.get(account)
        return None if assets is None else assets.get(asset)

    def __iter__(self) -> Iterator[Balance]:
        for assets in self._balances.values():
            yield from assets.values()

    # -- Postings: each moves one amount between two buckets ----------------------------------

    def deposit(self, account: AccountId, asset: AssetCode, amount: int) -> Balance:
        """Credit an owner from custody."""
        bal = self.balance(account, asset)
        self.balance(CUSTODY_ACCOUNT, asset).available -= amount
        bal.available += amount
        return bal

    def withdraw(self, bal: Balance, amount: int) -> bool:
        """Debit an owner's available amount to custody; False if it would go negative."""
        if amount > bal.available:
            return False
        bal.available -= amount
        self.balance(CUSTODY_ACCOUNT, bal.asset).available += amount
        return True

    @staticmethod
    def hold(bal: Balance, amount: int) -> bool:
        """Move available to held; False (and nothing moved) if not enough is available."""
        if amount > bal.available:
            return False
        bal.available -= amount
        bal.held += amount
        return True

    @staticmethod
    def release(bal: Balance, amount: int) -> None:
        """Move held back to available."""
        if amount > bal.held:
            raise InvariantViolation(f"release of {amount} exceeds held {bal.held} "
                                     f"on {bal.account}/{bal.asset}")
        bal.held -= amount
        bal.available += amount

    def fee_balance(self, asset: AssetCode) -> Balance:
        """Return the venue's fee bucket for an asset."""
        return self.balance(FEE_ACCOUNT, asset)

    def cover_shortfall(self, asset: AssetCode, amount: int) -> int:
        """Pay `clearing` up to `amount` of a loss an account could not pay, from the
        insurance fund's available amount; return what it paid (the fund never goes
        negative, and an empty fund is not created)."""
        fund = self.peek(INSURANCE_ACCOUNT, asset)
        if fund is None or fund.available <= 0:
            return 0
        covered = min(amount, fund.available)
        fund.available -= covered
        self.balance(CLEARING_ACCOUNT, asset).available += covered
        return covered

    # -- Checks --------------------------------------------------------------------------------

    def totals(self) -> dict[AssetCode, int]:
        """Sum every bucket per asset (zero for each asset when the books balance)."""
        sums: dict[AssetCode, int] = {}
        for bal in self:
            sums[bal.asset] = sums.get(bal.asset, 0) + bal.available + bal.held
        return sums

    def check_invariants(self) -> None:
        """Raise InvariantViolation if money was created, lost, or a user bucket is negative."""
        for asset, total in self.totals().items():
            if total != 0:
                raise InvariantViolation(f"asset {asset} does not balance: {total}")
        for bal in self:
            if bal.account not in CONTRA_ACCOUNTS and (bal.available < 0 or bal.held < 0):
                raise InvariantViolation(f"negative balance {bal.account}/{bal.asset}: "
                                         f"available={bal.available} held={bal.held}")
