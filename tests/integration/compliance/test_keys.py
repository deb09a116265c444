"""The local master key file and the seal/open helpers: round trips, AAD binding, rotation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tradehall.adapters.crypto.local_keys import LocalKeyFile
from tradehall.compliance.keys import (
    DecryptionFailed,
    KeyUnavailable,
    new_data_key,
    open_sealed,
    rewrap,
    seal,
    sealed_key_id,
)
from tradehall.config import Settings


def test_key_file_when_created_is_private_and_holds_one_version(tmp_path: Path) -> None:
    provider = LocalKeyFile.open(tmp_path / "keys.json", create=True)

    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert provider.current_key_id == "local-v1"
    assert provider.versions == (1,)


def test_key_file_when_missing_and_creation_not_allowed_refuses(tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable) as caught:
        LocalKeyFile.open(tmp_path / "keys.json", create=False)

    assert caught.value.code == "master_key_missing"
    assert not (tmp_path / "keys.json").exists()


def test_settings_in_production_do_not_allow_creating_a_master_key(tmp_path: Path) -> None:
    production = Settings(environment="production", data_dir=tmp_path)
    allowed = Settings(environment="production", data_dir=tmp_path, master_key_create=True)

    assert not production.may_create_master_key()
    assert allowed.may_create_master_key()
    assert Settings(data_dir=tmp_path).may_create_master_key()
    assert production.master_key_path() == tmp_path / "master-keys.json"


def test_wrap_then_unwrap_returns_the_data_key(tmp_path: Path) -> None:
    provider = LocalKeyFile.open(tmp_path / "keys.json", create=True)
    data_key = new_data_key()

    wrapped = provider.wrap(data_key, b"doc:1")

    assert provider.unwrap(wrapped, b"doc:1") == data_key
    with pytest.raises(DecryptionFailed):
        provider.unwrap(wrapped, b"doc:2")


def test_seal_when_opened_with_other_aad_refuses(tmp_path: Path) -> None:
    provider = LocalKeyFile.open(tmp_path / "keys.json", create=True)

    blob = seal(provider, b"JBSWY3DPEHPK3PXP", b"totp:u1")

    assert open_sealed(provider, blob, b"totp:u1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(DecryptionFailed):
        open_sealed(provider, blob, b"totp:u2")
    with pytest.raises(DecryptionFailed):
        open_sealed(provider, blob[:-1] + bytes([blob[-1] ^ 1]), b"totp:u1")
    with pytest.raises(DecryptionFailed):
        open_sealed(provider, b"not a sealed blob", b"totp:u1")


def test_rotate_when_old_blobs_exist_still_opens_them_and_rewraps(tmp_path: Path) -> None:
    provider = LocalKeyFile.open(tmp_path / "keys.json", create=True)
    old = seal(provider, b"secret", b"a")

    new_id = provider.rotate()
    moved = rewrap(provider, old, b"a")

    assert new_id == "local-v2"
    assert open_sealed(provider, old, b"a") == b"secret"
    assert sealed_key_id(moved) == "local-v2"
    assert open_sealed(provider, moved, b"a") == b"secret"


def test_rotate_by_another_process_is_seen_when_an_unknown_version_arrives(
        tmp_path: Path) -> None:
    server = LocalKeyFile.open(tmp_path / "keys.json", create=True)
    cli = LocalKeyFile.open(tmp_path / "keys.json", create=False)
    cli.rotate()

    blob = seal(cli, b"secret", b"a")

    assert open_sealed(server, blob, b"a") == b"secret"
    assert LocalKeyFile.open(tmp_path / "keys.json", create=False).versions == (1, 2)


def test_wrap_when_another_process_rotated_uses_the_new_version(tmp_path: Path) -> None:
    server = LocalKeyFile.open(tmp_path / "keys.json", create=True)
    LocalKeyFile.open(tmp_path / "keys.json", create=False).rotate()

    wrapped = server.wrap(new_data_key(), b"a")

    assert (wrapped.key_id, wrapped.version) == ("local-v2", 2)
