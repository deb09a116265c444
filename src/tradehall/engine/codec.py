"""Binary codec of engine commands for the journal: tagged msgpack, one struct per command.

Commands are frozen msgspec structs with a tag, so the payload names its own type and new
optional fields stay readable by older records. No I/O.
"""

from __future__ import annotations

import msgspec

from tradehall.trading.commands import EngineCommand

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineCommand)


def encode_command(command: EngineCommand) -> bytes:
    """Encode a command as a journal payload."""
    return _encoder.encode(command)


def decode_command(payload: bytes) -> EngineCommand:
    """Decode a journal payload into a command."""
    command: EngineCommand = _decoder.decode(payload)
    return command
