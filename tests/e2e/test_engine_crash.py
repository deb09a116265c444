"""Kill the engine host with SIGKILL mid-stream and check what survives.

The host runs as a real process (`tradehall engine run`) fed over a pipe. Every command it
acknowledged must be in the recovered state, and the recovered state must equal a fresh replay
of everything the journal holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradehall.engine.codec import decode_command
from tradehall.journal import read_journal

TRADEHALL = str(Path(sys.executable).parent / "tradehall")
ACCOUNTS = [f"acct{i}" for i in range(8)]


def _stream(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    yield json.dumps({"op": "instrument", "symbol": "BTC-USD", "base": "BTC", "quote": "USD",
                      "tick_size": "0.01", "lot_size": "0.001", "taker_fee": "0.001"})
    for account in ACCOUNTS:
        yield json.dumps({"op": "deposit", "account": account, "asset": "USD",
                          "amount": "10000000"})
        yield json.dumps({"op": "deposit", "account": account, "asset": "BTC",
                          "amount": "1000"})
    for i in range(count):
        account = rng.choice(ACCOUNTS)
        if i > 10 and rng.random() < 0.3:
            yield json.dumps({"op": "cancel", "account": account,
                              "client_order_id": f"o{rng.randrange(i)}"})
            continue
        order: dict[str, Any] = {
            "op": "order", "account": account, "client_order_id": f"o{i}",
            "symbol": "BTC-USD", "side": rng.choice(["buy", "sell"]),
            "qty": f"{rng.randint(1, 50) / 1000:.3f}"}
        if rng.random() < 0.1:
            order["type"] = "market"
        else:
            order["price"] = f"{100 + rng.randint(-50, 50) / 100:.2f}"
        yield json.dumps(order)


def _engine(data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TRADEHALL, "engine", "run", "--data-dir", str(data_dir), "--max-batch", "64"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _recover(data_dir: Path) -> dict[str, Any]:
    out = subprocess.run([TRADEHALL, "engine", "run", "--data-dir", str(data_dir)],
                         input=b'{"control":"state_hash"}\n', capture_output=True, check=True,
                         timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    recovered: dict[str, Any] = lines[0]
    assert lines[1]["state_hash"] == recovered["state_hash"]
    return recovered


def _replay_hash(data_dir: Path) -> str:
    out = subprocess.run([TRADEHALL, "journal", "verify", "--data-dir", str(data_dir)],
                         capture_output=True, check=True, timeout=60, text=True)
    return out.stdout.strip().splitlines()[-1].removeprefix("state_hash=")


def _run_and_kill(data_dir: Path, lines: list[str], kill_after: int,
                  snapshot_at: int) -> dict[int, dict[str, Any]]:
    """Feed lines, SIGKILL the host after `kill_after` acks; return acked seq -> input op."""
    proc = _engine(data_dir)
    assert proc.stdin is not None
    assert proc.stdout is not None
    pending: list[dict[str, Any]] = []  # ops whose answer has not arrived, in order

    def feed() -> None:
        assert proc.stdin is not None
        try:
            for i, line in enumerate(lines):
                if i == snapshot_at:
                    proc.stdin.write(b'{"control":"snapshot"}\n')
                proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the host was killed mid-write

    ops = [json.loads(line) for line in lines]
    pending.extend(ops[:snapshot_at])
    pending.append({"control": "snapshot"})
    pending.extend(ops[snapshot_at:])
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    acked: dict[int, dict[str, Any]] = {}
    assert json.loads(proc.stdout.readline())["event"] == "recovered"
    for op in pending:
        answer = json.loads(proc.stdout.readline())
        if "ack" in answer:
            acked[answer["ack"]] = op
        if len(acked) >= kill_after:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    writer.join(timeout=30)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(BrokenPipeError):
                stream.close()
    return acked


@pytest.mark.slow
def test_engine_when_killed_mid_stream_keeps_every_acknowledged_command(tmp_path: Path) -> None:
    # Arrange
    lines = list(_stream(seed=7, count=6000))

    # Act
    acked = _run_and_kill(tmp_path, lines, kill_after=4000, snapshot_at=1500)
    recovered = _recover(tmp_path)

    # Assert: every acknowledged command is in the journal, at its sequence number
    assert recovered["seq"] >= max(acked)
    assert recovered["snapshot_seq"] > 0
    journal = {record.seq: decode_command(record.payload) for record in read_journal(tmp_path)}
    for seq, op in acked.items():
        command = journal[seq]
        assert getattr(command, "account", None) == op.get("account")
        assert getattr(command, "client_order_id", None) == op.get("client_order_id")
    # ...and the recovered state (snapshot + tail) equals a fresh replay of the whole journal
    assert recovered["state_hash"] == _replay_hash(tmp_path)


@pytest.mark.slow
def test_engine_when_last_record_is_torn_drops_it_and_recovers(tmp_path: Path) -> None:
    # Arrange: a clean run, then half a record appended to the last segment
    lines = list(_stream(seed=3, count=300))
    acked = _run_and_kill(tmp_path, lines, kill_after=200, snapshot_at=100)
    before = _replay_hash(tmp_path)
    segment = sorted((tmp_path / "journal").glob("*.log"))[-1]
    with segment.open("ab") as f:
        f.write(bytes([60, 0, 0, 0, 99, 1]))

    # Act
    recovered = _recover(tmp_path)

    # Assert
    assert recovered["torn_bytes"] == 6
    assert recovered["seq"] >= max(acked)
    assert recovered["state_hash"] == before == _replay_hash(tmp_path)


@pytest.mark.slow
def test_engine_when_middle_record_is_edited_refuses_to_start(tmp_path: Path) -> None:
    # Arrange: flip one payload byte of an early record
    lines = list(_stream(seed=5, count=200))
    _run_and_kill(tmp_path, lines, kill_after=150, snapshot_at=10_000)
    segment = sorted((tmp_path / "journal").glob("*.log"))[0]
    data = bytearray(segment.read_bytes())
    data[200] ^= 0x01
    segment.write_bytes(bytes(data))

    # Act
    verify = subprocess.run([TRADEHALL, "journal", "verify", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    start = subprocess.run([TRADEHALL, "engine", "run", "--data-dir", str(tmp_path)],
                           input=b"", capture_output=True, timeout=60, check=False)

    # Assert
    assert verify.returncode == 1
    assert "CORRUPTED" in verify.stderr
    assert start.returncode != 0
    assert b"journal corrupted" in start.stderr


def test_environment_has_tradehall_script() -> None:
    assert os.access(TRADEHALL, os.X_OK)
