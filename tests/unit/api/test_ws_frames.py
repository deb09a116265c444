"""Pre-built text frames are byte for byte what the websockets library frames."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from tradehall.entrypoints.api.ws.connection import shared_frame
from tradehall.entrypoints.api.ws.server_protocol import text_frame


def _library_frame(text: str) -> bytes:
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


@given(st.text(max_size=300))
def test_text_frames_match_the_library(text: str) -> None:
    assert text_frame(text) == _library_frame(text)


def test_every_length_form_matches_the_library() -> None:
    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        text = "é" * (size // 2) + "x" * (size % 2)
        assert text_frame(text) == _library_frame(text), size


def test_the_shared_frame_is_built_once_per_message() -> None:
    text = '{"type":"trades"}' + "x" * 10
    first = shared_frame(text)
    assert shared_frame(text) is first
    other = "".join(["{}", ""])
    assert shared_frame(other) == text_frame(other)
    assert shared_frame(text) == first  # an equal frame again once another message went by
