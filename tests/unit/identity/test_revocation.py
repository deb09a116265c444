"""`InprocRevocationNotices`, the embedded notices: publishing delivers to every listener in
order, before `publish` returns; a failing listener does not keep the others from their notice,
and its error still reaches the caller; resync runs each listener's re-read in order."""

from __future__ import annotations

import pytest

from tradehall.identity.revocation import InprocRevocationNotices, Revocation

NOTICE = Revocation(kind="session", subject="s-1", ts_ns=7)


class Listener:
    def __init__(self, name: str, log: list[str], *, fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    def revoked(self, notice: Revocation) -> None:
        self.log.append(f"{self.name}:{notice.subject}")
        if self.fails:
            raise RuntimeError("listener bug")

    async def resync(self) -> None:
        self.log.append(f"{self.name}:resync")


async def test_publish_when_listeners_subscribed_delivers_to_each_in_order() -> None:
    log: list[str] = []
    notices = InprocRevocationNotices()
    notices.subscribe(Listener("a", log))
    notices.subscribe(Listener("b", log))

    await notices.publish(NOTICE)
    await notices.resync()

    assert log == ["a:s-1", "b:s-1", "a:resync", "b:resync"]


async def test_publish_when_a_listener_fails_still_delivers_to_the_others_then_raises() -> None:
    log: list[str] = []
    notices = InprocRevocationNotices()
    notices.subscribe(Listener("a", log, fails=True))
    notices.subscribe(Listener("b", log))

    with pytest.raises(RuntimeError, match="listener bug"):
        await notices.publish(NOTICE)

    assert log == ["a:s-1", "b:s-1"]
