"""Multipart uploads read in memory: the form's parts as bytes, never spooled to disk.

Starlette's form parser spools files above 1 MiB to a temporary file; a KYC document must
never touch the disk in clear, so upload routes parse the body here instead, with
python-multipart's streaming parser, into bounded in-memory buffers. Bad bodies answer 415
(not multipart), 413 (too large) or 422 (malformed), never 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from tradehall.entrypoints.api.errors import ApiError

MAX_PARTS = 8
_MAX_HEADER = 1024


@dataclass
class Part:
    """One part of a multipart form."""

    name: str
    filename: str | None
    content_type: str
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    def __init__(self, max_part_bytes: int) -> None:
        self.parts: list[Part] = []
        self._max_part = max_part_bytes
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._current: Part | None = None
        self.ended = False

    def on_end(self) -> None:
        self.ended = True

    def on_part_begin(self) -> None:
        self._headers = {}
        self._current = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        if len(self._value) > _MAX_HEADER:
            raise ApiError(422, "invalid_multipart", "a part header is too long")

    def on_header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self._headers.get("content-disposition", ""))
        name = disposition.get(b"name")
        if name is None:
            raise ApiError(422, "invalid_multipart", "a part has no name")
        if len(self.parts) >= MAX_PARTS:
            raise ApiError(422, "invalid_multipart", f"at most {MAX_PARTS} parts")
        filename = disposition.get(b"filename")
        content_type, _ = parse_options_header(self._headers.get("content-type", ""))
        self._current = Part(name=name.decode("utf-8", "replace"),
                             filename=None if filename is None
                             else filename.decode("utf-8", "replace"),
                             content_type=content_type.decode("latin-1"))
        self.parts.append(self._current)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            raise ApiError(422, "invalid_multipart", "part data before its headers")
        self._current.data += data[start:end]
        if len(self._current.data) > self._max_part:
            raise ApiError(413, "document_too_large",
                           f"a file may be at most {self._max_part} bytes")


async def read_form(request: Request, *, max_body_bytes: int,
                    max_part_bytes: int) -> dict[str, Part]:
    """Parse a multipart/form-data body in memory; return the parts by name (first wins)."""
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data")
    collector = _Collector(max_part_bytes)
    try:
        parser = MultipartParser(boundary, {
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_end": collector.on_end,
        })
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > max_body_bytes:
                raise ApiError(413, "body_too_large",
                               f"request bodies are limited to {max_body_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise ApiError(422, "invalid_multipart", "the multipart body is malformed") from None
    if not collector.ended:
        raise ApiError(422, "invalid_multipart", "the multipart body ends early")
    parts: dict[str, Part] = {}
    for part in collector.parts:
        parts.setdefault(part.name, part)
    return parts
