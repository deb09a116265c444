"""The API key store on SQLite and PostgreSQL: a key and its sealed signing key are written in
one transaction, last use only moves forward."""

from __future__ import annotations

import pytest

from tradehall.adapters.sql import SqlDatabase
from tradehall.kernel.errors import Conflict
from tradehall.kernel.ids import AccountId
from tradehall.service.ports import ApiKeyRecord, UserRecord

USER = UserRecord(user_id="00000000-0000-4000-8000-000000000001", username="alice",
                  password_hash="$argon2id$x", account=AccountId("alice"), roles=["trader"],
                  created_ns=1)


def _key(key_id: str = "TKTEST1") -> ApiKeyRecord:
    return ApiKeyRecord(key_id=key_id, secret_hash="ab" * 32, user_id=USER.user_id,
                        label="bot", created_ns=5, scopes=["read"], ip_allow=["10.0.0.0/8"])


async def test_add_api_key_when_sealed_signing_key_given_stores_both(
        database: SqlDatabase) -> None:
    store = database.identity
    await store.add_user(USER)

    await store.add_api_key(_key(), b"\x00sealed\xff", "local-v1")
    await store.add_api_key(_key("TKOLD"))

    assert await store.get_sealed_signing_key("TKTEST1") == b"\x00sealed\xff"
    assert await store.get_sealed_signing_key("TKOLD") is None
    assert await store.get_sealed_signing_key("TKNONE") is None
    assert await store.get_api_key("TKTEST1") == _key()


async def test_add_api_key_when_duplicate_keeps_the_first_signing_key(
        database: SqlDatabase) -> None:
    store = database.identity
    await store.add_user(USER)
    await store.add_api_key(_key(), b"first", "local-v1")

    with pytest.raises(Conflict):
        await store.add_api_key(_key(), b"second", "local-v1")

    assert await store.get_sealed_signing_key("TKTEST1") == b"first"


async def test_touch_api_key_when_older_time_given_keeps_the_newest(
        database: SqlDatabase) -> None:
    store = database.identity
    await store.add_user(USER)
    await store.add_api_key(_key())

    await store.touch_api_key("TKTEST1", 2_000)
    await store.touch_api_key("TKTEST1", 1_000)

    key = await store.get_api_key("TKTEST1")
    assert key is not None
    assert key.last_used_ns == 2_000
