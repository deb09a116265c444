"""Binary codec of engine commands for the journal: tagged msgpack, one struct per command.

Commands are frozen msgspec structs with a tag, so the payload names its own type and new
optional fields stay readable by older records. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from tradehall.trading.commands import EngineCommand

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EngineCommand)


# The encoder's bound method itself: the host encodes every command, and a Python wrapper
# around it costs about a sixth of the encoding.
encode_command: Callable[[EngineCommand], bytes] = _encoder.encode
"""Encode a command as a journal payload."""


def decode_command(payload: bytes) -> EngineCommand:
    """Decode a journal payload into a command."""
    command: EngineCommand = _decoder.decode(payload)
    return command
