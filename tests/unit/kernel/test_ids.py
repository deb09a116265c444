"""Ids the edge assigns: random UUIDs stay unique across threads and forked processes."""

from __future__ import annotations

import os
import threading
import uuid

from tradehall.kernel.ids import OrderId, order_uuid, random_uuid


def test_random_uuids_are_version_4_and_unique() -> None:
    ids = [random_uuid() for _ in range(5_000)]  # many refills of the entropy block
    assert len(set(ids)) == len(ids)
    for text in ids[:50]:
        value = uuid.UUID(text)
        assert value.version == 4
        assert value.variant == uuid.RFC_4122


def test_threads_never_share_an_id() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(random_uuid() for _ in range(3_000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for out in found for text in out]
    assert len(set(every)) == len(every) == 12_000


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    random_uuid()  # the parent now holds buffered entropy
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.close(read)
        os.write(write, ",".join(random_uuid() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = set(pipe.read().decode().split(","))
    os.waitpid(pid, 0)
    parent = {random_uuid() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent


def test_order_uuids_are_stable() -> None:
    assert order_uuid(OrderId(7)) == order_uuid(OrderId(7)) != order_uuid(OrderId(8))
