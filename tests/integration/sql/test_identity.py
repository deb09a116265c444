"""The identity store: users and API keys, and the conflicts the database enforces."""

from __future__ import annotations

import pytest

from tradehall.adapters.sql import SqlDatabase
from tradehall.kernel.errors import Conflict, NotFound
from tradehall.kernel.ids import AccountId
from tradehall.service.ports import ApiKeyRecord, UserRecord


def _user(user_id: str = "00000000-0000-4000-8000-000000000001", username: str = "alice",
          created_ns: int = 1) -> UserRecord:
    return UserRecord(user_id=user_id, username=username, password_hash="$argon2id$x",
                      account=AccountId(f"acct-{username}"), roles=["trader"],
                      created_ns=created_ns)


async def test_add_user_when_new_is_found_by_id_and_name(database: SqlDatabase) -> None:
    # Arrange
    store = database.identity
    user = _user()

    # Act
    await store.add_user(user)

    # Assert
    assert await store.get_user(user.user_id) == user
    assert await store.get_user_by_username("alice") == user
    assert await store.get_user_by_username("bob") is None
    assert await store.list_users() == [user]


async def test_add_user_when_username_taken_raises_conflict(database: SqlDatabase) -> None:
    store = database.identity
    await store.add_user(_user())
    with pytest.raises(Conflict) as info:
        await store.add_user(_user(user_id="00000000-0000-4000-8000-000000000002"))
    assert info.value.code == "username_taken"
    assert len(await store.list_users()) == 1


async def test_add_user_when_user_id_taken_raises_conflict(database: SqlDatabase) -> None:
    store = database.identity
    await store.add_user(_user())
    with pytest.raises(Conflict) as info:
        await store.add_user(_user(username="bob"))
    assert info.value.code == "user_exists"


async def test_api_keys_when_added_are_found_listed_and_revoked(database: SqlDatabase) -> None:
    # Arrange
    store = database.identity
    user = _user()
    await store.add_user(user)
    key = ApiKeyRecord(key_id="PKTEST1", secret_hash="ab" * 32, user_id=user.user_id,
                       label="bot", created_ns=5)

    # Act
    await store.add_api_key(key)
    revoked = await store.revoke_api_key("PKTEST1")

    # Assert
    assert revoked
    assert await store.get_api_key("PKTEST1") == ApiKeyRecord(
        key_id="PKTEST1", secret_hash="ab" * 32, user_id=user.user_id, label="bot",
        created_ns=5, revoked=True)
    assert [k.key_id for k in await store.list_api_keys(user.user_id)] == ["PKTEST1"]
    assert await store.get_api_key("nope") is None
    assert not await store.revoke_api_key("nope")


async def test_add_api_key_when_duplicate_or_unknown_user_raises(database: SqlDatabase) -> None:
    store = database.identity
    user = _user()
    await store.add_user(user)
    key = ApiKeyRecord(key_id="PK1", secret_hash="00", user_id=user.user_id, label="",
                       created_ns=1)
    await store.add_api_key(key)
    with pytest.raises(Conflict) as dup:
        await store.add_api_key(key)
    assert dup.value.code == "api_key_exists"
    with pytest.raises(NotFound) as unknown:
        await store.add_api_key(ApiKeyRecord(key_id="PK2", secret_hash="00",
                                             user_id="missing", label="", created_ns=1))
    assert unknown.value.code == "unknown_user"
