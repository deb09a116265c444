"""The audit hash chain, pure: any single edit, removal or swap of entries is found at the
right seq, and entry details never keep secrets or bytes."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from tradehall.compliance.audit import (
    GENESIS_HASH,
    REDACTED,
    AuditEntry,
    chained,
    clean_detail,
    verify_chain,
)


def _chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        entry = chained(AuditEntry(seq=i, ts_ns=i * 1000, action="auth.login", actor=f"u{i % 3}",
                                   target=None, ip="127.0.0.1", user_agent="ua",
                                   outcome="success", detail={"i": i}), prev)
        entries.append(entry)
        prev = entry.hash
    return entries


def test_verify_when_chain_is_whole_reports_its_head() -> None:
    entries = _chain(5)

    result = verify_chain(entries, head=(5, entries[-1].hash))

    assert (result.ok, result.checked, result.head_seq, result.head_hash) == (
        True, 5, 5, entries[-1].hash)


@given(st.integers(1, 8), st.data())
def test_verify_when_one_entry_is_edited_names_its_seq(n: int, data: st.DataObject) -> None:
    entries = _chain(n)
    index = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["ts_ns", "action", "actor", "outcome", "detail"]))
    value = {"ts_ns": 7, "action": "x", "actor": "mallory", "outcome": "denied",
             "detail": {"i": -1}}[field]
    entries[index] = msgspec.structs.replace(entries[index], **{field: value})

    result = verify_chain(entries, head=(n, _chain(n)[-1].hash))

    assert (result.ok, result.first_bad_seq) == (False, index + 1)


@given(st.integers(2, 8), st.data())
def test_verify_when_an_entry_is_removed_names_the_missing_seq(n: int,
                                                                data: st.DataObject) -> None:
    entries = _chain(n)
    index = data.draw(st.integers(0, n - 1))
    head = (n, entries[-1].hash)
    del entries[index]

    result = verify_chain(entries, head=head)

    assert (result.ok, result.first_bad_seq) == (False, index + 1)


def test_verify_when_two_entries_are_reordered_names_the_first() -> None:
    entries = _chain(4)
    entries[1], entries[2] = entries[2], entries[1]

    result = verify_chain(entries)

    assert (result.ok, result.first_bad_seq) == (False, 2)


def test_clean_detail_when_given_secrets_bytes_and_big_values_redacts_and_bounds() -> None:
    detail = clean_detail({"new_password": "p", "api_secret": "s", "TOTP_code": "123456",
                           "nested": {"access_token": "t", "ok": [b"raw", 2**70]},
                           "content": "x", "content_type": "application/pdf",
                           "note": "y" * 1000})

    assert detail == {"new_password": REDACTED, "api_secret": REDACTED,
                      "TOTP_code": REDACTED,
                      "nested": {"access_token": REDACTED, "ok": [REDACTED, str(2**70)]},
                      "content": REDACTED, "content_type": "application/pdf",
                      "note": "y" * 256}
    assert clean_detail({f"k{i}": "v" * 200 for i in range(100)}) == {"truncated": True}
