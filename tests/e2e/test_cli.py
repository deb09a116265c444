"""The operator commands as an operator runs them: real `tradehall` processes on a data dir.

A data directory is made once by serving the demo market and stopping it; each test works on
a copy. `users create` and `accounts deposit` work on the stopped folder and must refuse, in
one line with exit status 1, while a server holds its journal; what they create must then work
against a running server.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.kit.serve_process import ServeProcess, tradehall
from tradehall.journal import read_journal

pytestmark = pytest.mark.slow
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def served_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory that ran the demo market once and was stopped."""
    data_dir = tmp_path_factory.mktemp("seed") / "platform"
    server = ServeProcess(data_dir, "--no-fsync").start()
    assert server.stop() == 0, server.output()
    return data_dir


@pytest.fixture
def data_dir(served_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "platform"
    shutil.copytree(served_once, copy)
    return copy


def _stored(data_dir: Path) -> tuple[list[Any], ...]:
    """Users, keys, balances and the journal's length of a stopped data directory."""
    uri = f"file:{data_dir / 'readmodels.sqlite3'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        tables = tuple(conn.execute(query).fetchall() for query in (
            "SELECT username, roles FROM users ORDER BY username",
            "SELECT key_id FROM api_keys ORDER BY key_id",
            "SELECT account, asset, available, held FROM balances ORDER BY account, asset"))
    # A stop writes a snapshot and rolls the journal: compare the records, not the files.
    journal = [(r.seq, r.payload) for r in read_journal(data_dir / "journal")]
    return (*tables, journal)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_users_create_when_folder_is_stopped_prints_a_key_pair_that_works(
        data_dir: Path) -> None:
    # Act
    created = tradehall("users", "create", "dave", "--password", PASSWORD, "--json",
                        "--data-dir", str(data_dir))
    listed = tradehall("users", "list", "--json", "--data-dir", str(data_dir))
    funded = tradehall("accounts", "deposit", "dave", "USD", "2500.50",
                       "--data-dir", str(data_dir))

    # Assert
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)
    assert user["username"] == "dave"
    assert user["roles"] == ["trader"]
    assert listed.returncode == 0, listed.stderr
    assert sorted(u["username"] for u in json.loads(listed.stdout)) == [
        "alice", "bob", "carol", "dave", "dealer"]
    assert funded.returncode == 0, funded.stderr
    assert funded.stdout.strip() == "deposited 2500.50 USD into dave: available 2500.50"
    with ServeProcess(data_dir, "--no-fsync") as server:
        headers = {"APCA-API-KEY-ID": user["api_key_id"],
                   "APCA-API-SECRET-KEY": user["api_secret_key"]}
        account = httpx.get(server.base_url + "/v2/account", headers=headers, timeout=10)
        login = httpx.post(server.base_url + "/v1/auth/login", timeout=10,
                           json={"username": "dave", "password": PASSWORD})
        assert server.stop() == 0
    assert account.status_code == 200, account.text
    assert account.json()["cash"] == "2500.50"
    assert login.status_code == 200, login.text


def test_accounts_when_naming_the_insurance_fund_deposit_into_it_and_show_it(
        data_dir: Path) -> None:
    # Act
    funded = tradehall("accounts", "deposit", "@insurance", "USD", "1000",
                       "--data-dir", str(data_dir))
    shown = tradehall("accounts", "balances", "@insurance", "--data-dir", str(data_dir))

    # Assert
    assert funded.returncode == 0, funded.stderr
    assert funded.stdout.strip() == ("deposited 1000.00 USD into @insurance: available "
                                     "1000.00")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["USD", "available", "1000.00", "held", "0.00"]


def test_accounts_withdraw_when_naming_an_operated_account_debits_it_never_below_zero(
        data_dir: Path) -> None:
    # Arrange
    funded = tradehall("accounts", "deposit", "@insurance", "USD", "1000",
                       "--data-dir", str(data_dir))
    fees_before = tradehall("accounts", "balances", "@fees", "--data-dir", str(data_dir))

    # Act
    drawn = tradehall("accounts", "withdraw", "@insurance", "USD", "400",
                      "--data-dir", str(data_dir))
    too_much = tradehall("accounts", "withdraw", "@fees", "USD", "1000000000",
                         "--data-dir", str(data_dir))
    fees_after = tradehall("accounts", "balances", "@fees", "--data-dir", str(data_dir))

    # Assert: the fund is drawn down; the fees cannot be overdrawn, and nothing changed
    assert funded.returncode == 0, funded.stderr
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.strip() == "withdrew 400.00 USD from @insurance: available 600.00"
    assert too_much.returncode == 1
    assert len(_error_lines(too_much.stderr)) == 1
    assert "insufficient_funds" in too_much.stderr
    assert fees_after.stdout == fees_before.stdout


def test_users_create_when_password_is_prompted_reads_it_twice(data_dir: Path) -> None:
    # Act
    created = tradehall("users", "create", "erin", "--role", "dealer", "--data-dir",
                        str(data_dir), input_text=f"{PASSWORD}\n{PASSWORD}\n")

    # Assert
    assert created.returncode == 0, created.stderr
    assert "created user erin (roles: dealer; account erin)" in created.stdout
    assert "api_key_id:" in created.stdout
    assert "api_secret_key:" in created.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("users", "create", "No Spaces", "--password", PASSWORD),
     "error: invalid_username: username: 3-32 characters"),
    (("users", "create", "alice", "--password", PASSWORD), "error: username_taken"),
    (("users", "create", "frank", "--password", "short"), "error: invalid_password"),
    (("users", "create", "frank", "--password", PASSWORD, "--role", "king"),
     "error: invalid_role"),
    (("accounts", "deposit", "alice", "USD", "1.001"), "error: too_many_decimals"),
    (("accounts", "deposit", "alice", "XYZ", "1"), "error: unknown_asset"),
    (("accounts", "deposit", "alice", "USD", "0"), "error: not_positive"),
    (("accounts", "deposit", "nobody", "USD", "5"), "error: unknown_account"),
    (("instruments", "add", "XYZ-USD", "--base", "XYZ", "--quote", "USD", "--tick-size",
      "0.01", "--lot-size", "1"), "error: asset XYZ is not defined"),
    (("instruments", "add", "BTC-EUR", "--base", "BTC", "--quote", "EUR", "--tick-size",
      "abc", "--lot-size", "1"), "error: --tick-size: 'abc' is not a decimal number"),
    (("instruments", "add", "BTC-EUR", "--base", "BTC", "--quote", "EUR", "--tick-size",
      "0.01", "--lot-size", "1", "--kind", "binary_option"), "error: --kind must be"),
    (("instruments", "add", "BTC-EUR", "--base", "BTC", "--quote", "EUR", "--tick-size",
      "0.01", "--lot-size", "1", "--kind", "margin", "--margin-rate", "0.1",
      "--maintenance-margin-rate", "0.2"), "error: out_of_range: maintenance_margin_rate"),
    (("instruments", "add", "BTC-EUR", "--base", "BTC", "--quote", "EUR", "--tick-size",
      "0.01", "--lot-size", "1", "--kind", "margin", "--margin-rate", "0.1",
      "--liquidation-fee-rate", "0.01"),
     "error: missing: liquidation_fee_rate: needs a maintenance_margin_rate"),
    (("instruments", "status", "BTC-USD", "paused"), "error: STATUS must be"),
    (("instruments", "status", "NOPE-USD", "halted"), "error: unknown_symbol"),
])
def test_cli_when_input_is_bad_fails_in_one_line_and_changes_nothing(
        data_dir: Path, args: tuple[str, ...], message: str) -> None:
    # Arrange
    before = _stored(data_dir)

    # Act
    refused = tradehall(*args, "--data-dir", str(data_dir))

    # Assert
    assert refused.returncode == 1, refused.stdout
    lines = _error_lines(refused.stderr)
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith(message)
    assert _stored(data_dir) == before


def test_cli_when_server_runs_refuses_in_one_line_and_users_list_still_works(
        data_dir: Path) -> None:
    # Arrange
    with ServeProcess(data_dir, "--no-demo", "--no-fsync") as server:
        # Act
        create = tradehall("users", "create", "gina", "--password", PASSWORD,
                           "--data-dir", str(data_dir))
        deposit = tradehall("accounts", "deposit", "alice", "USD", "1",
                            "--data-dir", str(data_dir))
        snapshot = tradehall("snapshot", "--data-dir", str(data_dir))
        listed = tradehall("users", "list", "--data-dir", str(data_dir))
        assert server.stop() == 0

    # Assert
    for refused in (create, deposit, snapshot):
        assert refused.returncode == 1
        assert _error_lines(refused.stderr) == [
            f"error: {data_dir} is in use: a running tradehall holds its journal lock; stop "
            f"the server first"]
    assert listed.returncode == 0, listed.stderr
    assert "gina" not in listed.stdout
    assert "alice" in listed.stdout


def test_snapshot_when_folder_is_stopped_writes_one_that_verify_accepts(data_dir: Path) -> None:
    # Act
    taken = tradehall("snapshot", "--data-dir", str(data_dir))
    verified = tradehall("journal", "verify", "--data-dir", str(data_dir / "journal"))

    # Assert
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.startswith("snapshot at seq ")
    state_hash = taken.stdout.split("state_hash=")[1].strip()
    assert verified.returncode == 0, verified.stderr
    assert f"state_hash={state_hash}" in verified.stdout


def test_cli_when_folder_does_not_exist_says_so(tmp_path: Path) -> None:
    # Act
    missing = tmp_path / "nothing-here"
    results = [tradehall(*args, "--data-dir", str(missing)) for args in (
        ("users", "list"), ("accounts", "deposit", "alice", "USD", "1"), ("snapshot",))]

    # Assert
    for result in results:
        assert result.returncode == 1
        assert len(_error_lines(result.stderr)) == 1
        assert str(missing) in result.stderr
    assert not missing.exists()


def test_bench_when_no_name_lists_the_benchmarks_and_runs_one_by_name() -> None:
    # Act
    listed = tradehall("bench")
    helped = tradehall("bench", "journal", "--", "--help")
    unknown = tradehall("bench", "nope")

    # Assert
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert {"engine", "host", "journal", "recovery"} <= set(names)
    assert helped.returncode == 0, helped.stderr
    assert "usage:" in helped.stdout
    assert unknown.returncode == 1
    assert _error_lines(unknown.stderr)[0].startswith("error: no benchmark named 'nope'")


@pytest.mark.parametrize("command", [
    (), ("serve",), ("users",), ("users", "create"), ("accounts", "deposit"), ("snapshot",),
    ("bench",), ("journal", "verify"), ("replay",),
])
def test_help_when_asked_explains_the_command(command: tuple[str, ...]) -> None:
    # Act
    helped = tradehall(*command, "--help")

    # Assert
    assert helped.returncode == 0, helped.stderr
    assert "Usage:" in helped.stdout
    assert len(helped.stdout.splitlines()) > 5


def test_instruments_when_defined_from_the_cli_trade_on_the_next_start(data_dir: Path) -> None:
    # Arrange
    where = ("--data-dir", str(data_dir))

    # Act
    asset = tradehall("instruments", "add-asset", "SOL", "6", *where)
    added = tradehall("instruments", "add", "SOL-USD", "--base", "SOL", "--quote", "USD",
                      "--tick-size", "0.001", "--lot-size", "0.01", "--taker-fee", "0.001",
                      *where)
    again = tradehall("instruments", "add", "SOL-USD", "--base", "SOL", "--quote", "USD",
                      "--tick-size", "0.001", "--lot-size", "0.01", *where)
    halted = tradehall("instruments", "status", "SOL-USD", "halted", *where)
    listed = tradehall("instruments", "list", "--json", *where)
    with ServeProcess(data_dir, "--no-demo", "--no-fsync") as server:
        instrument = httpx.get(f"{server.base_url}/v1/instruments/SOL-USD").json()

    # Assert
    assert asset.returncode == 0, asset.stderr
    assert added.returncode == 0, added.stderr
    assert again.returncode == 1
    assert _error_lines(again.stderr) == ["error: instrument_exists: instrument SOL-USD exists"]
    assert halted.returncode == 0, halted.stderr
    sol = next(row for row in json.loads(listed.stdout) if row["symbol"] == "SOL-USD")
    assert sol == {"symbol": "SOL-USD", "kind": "spot", "base": "SOL", "quote": "USD",
                   "tick_size": "0.001", "lot_size": "0.01", "maker_fee": "0",
                   "taker_fee": "0.001", "status": "halted"}
    assert instrument["status"] == "halted"
    assert instrument["tick_size"] == "0.001"
