"""`tradehall accounts`: deposit into an account, withdraw from it, show its balances.

Works on a stopped data directory (the platform is started for the job, see `offline.py`);
deposits and withdrawals go through the same trading service as the API's, so a refused amount
(off-grid, unknown asset, more than is available) is a one-line error and changes nothing. An
account is named by its user's username or by its engine account id; `@insurance` names the
insurance fund (the engine takes deposits into it and withdrawals from it) and `@fees` the
fees collected (withdrawals only: that is how the operator collects them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradehall.entrypoints.cli.offline import DEFAULT_DATA_DIR, DataDir, run, started_platform
from tradehall.kernel.errors import NotFound
from tradehall.kernel.ids import FEE_ACCOUNT, INSURANCE_ACCOUNT, AccountId

if TYPE_CHECKING:
    from tradehall.bootstrap import Platform

app = typer.Typer(help="Fund accounts, withdraw from them and show their balances.",
                  no_args_is_help=True)
_OPERATED = frozenset({INSURANCE_ACCOUNT, FEE_ACCOUNT})

AccountArg = Annotated[str, typer.Argument(
    help="A username (its account), an engine account id, @insurance (the insurance fund) "
         "or @fees (the fees collected).", metavar="USER_OR_ACCOUNT")]


async def _account(platform: Platform, name: str) -> AccountId:
    if name in _OPERATED:
        return AccountId(name)  # the insurance fund is funded before it has a balance
    await platform.read_model.wait_for(platform.engine.last_seq, 30.0)
    user = await platform.identity.get_user_by_username(name)
    if user is not None:
        return user.account
    if await platform.read_model.balances(AccountId(name)):
        return AccountId(name)
    raise NotFound(f"no user or account named {name!r}", code="unknown_account")


AssetArg = Annotated[str, typer.Argument(help="Asset code, e.g. USD.")]
AmountArg = Annotated[str, typer.Argument(help="Decimal amount, e.g. 1000.50.")]


@app.command("deposit")
def deposit(account: AccountArg, asset: AssetArg, amount: AmountArg,
            data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Credit ASSET to an account (on a stopped data directory) and print the new balance."""
    typer.echo(_transfer(account, asset, amount, data_dir, deposit=True))


@app.command("withdraw")
def withdraw(account: AccountArg, asset: AssetArg, amount: AmountArg,
             data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Debit ASSET from an account's available amount (on a stopped data directory) and print
    what is left; `@fees` collects the fees."""
    typer.echo(_transfer(account, asset, amount, data_dir, deposit=False))


def _transfer(account: str, asset: str, amount: str, data_dir: Path, *, deposit: bool) -> str:
    async def job() -> str:
        async with started_platform(data_dir) as platform:
            target = await _account(platform, account)
            trading = platform.trading
            event = await (trading.deposit if deposit else trading.withdraw)(
                target, asset, amount)
            fmt = platform.refdata.format_amount
            done = (f"deposited {fmt(asset, event.amount)} {asset} into" if deposit
                    else f"withdrew {fmt(asset, event.amount)} {asset} from")
            return f"{done} {target}: available {fmt(asset, event.available)}"

    return run(job, data_dir)


@app.command("balances")
def balances(account: AccountArg, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Print an account's balances per asset (on a stopped data directory)."""

    async def job() -> list[str]:
        async with started_platform(data_dir) as platform:
            target = await _account(platform, account)
            fmt = platform.refdata.format_amount
            return [f"{b.asset:<6} available {fmt(b.asset, b.available)}  held "
                    f"{fmt(b.asset, b.held)}"
                    for b in await platform.read_model.balances(target)]

    for line in run(job, data_dir):
        typer.echo(line)
