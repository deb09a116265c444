"""Serve the engine host over standard input and output (JSON Lines), batching adaptively.

A reader thread queues input lines; the main loop takes whatever has queued (up to a batch
limit), converts each line at the edge, journals and applies the batch through the host, and
only after the batch's fsync writes one acknowledgement line per input line. Lines rejected at
the edge are answered at once and never journaled. Control lines `{"control": "snapshot"}` and
`{"control": "state_hash"}` drive the host itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from typing import IO

import msgspec

from tradehall.engine.replay import edge_rejection
from tradehall.engine.state import state_hash
from tradehall.engine.wire_input import EdgeRejected, decode_op, to_command
from tradehall.engine.wire_output import EventRenderer
from tradehall.entrypoints.workers.engine_host import EngineHost
from tradehall.trading.commands import EngineCommand

_END = b""
_encode = msgspec.json.encode


class _Control(msgspec.Struct, forbid_unknown_fields=True):
    control: str


def serve(host: EngineHost, source: IO[bytes], sink: IO[bytes], *, max_batch: int = 4096,
          ts_source: Callable[[], int] | None = None) -> None:
    """Run until `source` ends; every input line gets exactly one output line."""
    lines: queue.Queue[bytes] = queue.Queue(maxsize=max_batch * 4)
    reader = threading.Thread(target=_read_into, args=(source, lines), daemon=True)
    reader.start()
    renderer = EventRenderer(host.engine)
    finished = False
    while not finished:
        batch = [lines.get()]
        while len(batch) < max_batch:
            try:
                batch.append(lines.get_nowait())
            except queue.Empty:
                break
        if batch[-1] is _END:
            batch.pop()
            finished = True
        out = _process(host, renderer, batch, ts_source)
        sink.write(b"".join(out))
        sink.flush()
    reader.join()


def _read_into(source: IO[bytes], lines: queue.Queue[bytes]) -> None:
    for line in source:
        if line.strip():
            lines.put(line)
    lines.put(_END)


def _process(host: EngineHost, renderer: EventRenderer, batch: Iterable[bytes],
             ts_source: Callable[[], int] | None) -> list[bytes]:
    """Answer a batch in input order; engine commands run as one journaled group."""
    answers: list[bytes | int] = []  # an int is the command's index in the pending group
    group: list[tuple[EngineCommand, int]] = []
    for line in batch:
        if line.lstrip().startswith(b'{"control"'):
            _flush(host, renderer, answers, group)
            answers.append(_control(host, line))
            continue
        try:
            op = decode_op(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            answers.append(_encode({"error": "invalid_input", "message": str(exc)}) + b"\n")
            continue
        try:
            command = to_command(op, host.engine)
        except EdgeRejected:
            # Instruments, assets and an order's symbol never change once they exist, so only
            # a refusal can depend on the pending group: apply it, then convert once more.
            _flush(host, renderer, answers, group)
            try:
                command = to_command(op, host.engine)
            except EdgeRejected as exc:
                answers.append(_encode(edge_rejection(exc.op, exc)) + b"\n")
                continue
        ts = op.ts if op.ts is not None else (ts_source() if ts_source else host.engine.now_ns)
        answers.append(len(group))
        group.append((command, ts))
    _flush(host, renderer, answers, group)
    return [a for a in answers if isinstance(a, bytes)]


def _flush(host: EngineHost, renderer: EventRenderer, answers: list[bytes | int],
           group: list[tuple[EngineCommand, int]]) -> None:
    """Journal and apply the pending group, then fill in its answers (only once durable)."""
    if not group:
        return
    first = host.seq + 1
    results = host.submit(group)
    for i, answer in enumerate(answers):
        if isinstance(answer, int):
            events = [renderer.render(ev) for ev in results[answer]]
            answers[i] = _encode({"ack": first + answer, "events": events}) + b"\n"
    group.clear()


def _control(host: EngineHost, line: bytes) -> bytes:
    try:
        control = msgspec.json.decode(line, type=_Control).control
    except msgspec.MsgspecError as exc:
        return _encode({"error": "invalid_control", "message": str(exc)}) + b"\n"
    if control == "snapshot":
        path = host.snapshot()
        return _encode({"control": "snapshot", "seq": host.seq, "file": path.name}) + b"\n"
    if control == "state_hash":
        return _encode({"control": "state_hash", "seq": host.seq,
                        "state_hash": state_hash(host.engine)}) + b"\n"
    return _encode({"error": "invalid_control", "message": f"unknown control {control!r}"}) + b"\n"
