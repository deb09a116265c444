"""Replay of JSON Lines commands through a fresh engine, yielding rendered events.

Each non-blank line that is not a `#` comment is decoded, converted at the edge and applied in
order; a line that cannot be decoded or converted yields one error event and changes nothing.
Accepted commands are numbered from 1 (`seq`). Pure: the caller does the reading and writing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from tradehall.engine.matcher import MatchingEngine
from tradehall.engine.wire_input import EdgeRejected, LineOp, OrderOp, decode_op, to_command
from tradehall.engine.wire_output import EventRenderer, Json
from tradehall.trading.commands import EngineCommand


class ReplaySession:
    """Feeds replay lines to one engine and renders what happens."""

    def __init__(self, engine: MatchingEngine | None = None) -> None:
        self.engine = engine if engine is not None else MatchingEngine()
        self.renderer = EventRenderer(self.engine)
        self.seq = 0
        self.ts = 0
        self.accepted: list[tuple[int, int, EngineCommand]] = []  # (seq, ts, command)

    def feed(self, line: bytes | str, lineno: int = 0) -> list[Json]:
        """Apply one line; return the rendered events it caused (none for blanks)."""
        text = line.strip()
        if not text or text[:1] in (b"#", "#"):
            return []
        try:
            op = decode_op(text)
        except msgspec.ValidationError as exc:
            return [{"event": "input_error", "line": lineno, "reason": "invalid_field",
                     "message": str(exc)}]
        except msgspec.DecodeError as exc:
            return [{"event": "input_error", "line": lineno, "reason": "invalid_json",
                     "message": str(exc)}]
        try:
            command = to_command(op, self.engine)
        except EdgeRejected as exc:
            return [edge_rejection(op, exc)]
        if op.ts is not None:
            self.ts = max(self.ts, op.ts)
        self.seq += 1
        self.accepted.append((self.seq, self.ts, command))
        events = self.engine.apply(command, self.ts)
        render = self.renderer.render
        return [{"seq": self.seq, **render(event)} for event in events]

    def run(self, lines: Iterable[bytes | str]) -> Iterator[Json]:
        """Feed every line, yielding events as they happen."""
        for lineno, line in enumerate(lines, start=1):
            yield from self.feed(line, lineno)


def edge_rejection(op: LineOp, exc: EdgeRejected) -> Json:
    """Render a line refused at the edge as the event its op would have been refused with."""
    error = exc.error
    if isinstance(op, OrderOp):
        return {"event": "order_rejected", "account": op.account,
                "client_order_id": op.client_order_id, "symbol": op.symbol,
                "reason": error.code, "field": error.field, "message": error.message}
    tag = type(op).__struct_config__.tag
    return {"event": "command_rejected", "command": tag,
            "account": getattr(op, "account", None),
            "client_order_id": getattr(op, "client_order_id", None),
            "reason": error.code, "field": error.field, "message": error.message}
