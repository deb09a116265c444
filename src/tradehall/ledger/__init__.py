"""Double-entry ledger: assets, balances per owner and asset, holds. Pure, no I/O."""
