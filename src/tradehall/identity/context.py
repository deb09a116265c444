"""`RequestContext`: where a request came from, for sessions, devices, throttles and the audit."""

from __future__ import annotations

import msgspec


class RequestContext(msgspec.Struct, frozen=True):
    """The caller's network address and client, as the edge saw them."""

    ip: str = ""
    user_agent: str = ""

    @property
    def device(self) -> str:
        """A short description of the client for lists and alerts."""
        return self.user_agent[:200] or "unknown client"
