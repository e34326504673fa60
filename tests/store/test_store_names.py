"""Mailbox names, flags and keywords."""

from __future__ import annotations

import pytest

from postel.store import InvalidFlag, InvalidMailboxName, UnknownAccount
from postel.store.names import check_account_name, normalize_mailbox, split_flags


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("INBOX", "Inbox"),
        ("inbox/Sub", "Inbox/Sub"),
        ("Archive/2024", "Archive/2024"),
        ("Grüße", "Grüße"),
    ],
)
def test_normalize_mailbox(given: str, expected: str) -> None:
    assert normalize_mailbox(given) == expected


@pytest.mark.parametrize("bad", ["", "/", "a//b", "a/", "a\tb", "%", "a*", " x", "x" * 201])
def test_invalid_mailbox_names(bad: str) -> None:
    with pytest.raises(InvalidMailboxName):
        normalize_mailbox(bad)


def test_split_flags() -> None:
    flags, keywords = split_flags(["\\seen", "\\FLAGGED", "$Forwarded", "Junk"])
    assert flags == {"\\Seen", "\\Flagged"}
    assert keywords == {"$Forwarded", "Junk"}
    for bad in ["\\Recent", "\\", "with space", "par(en", "", 'quo"te']:
        with pytest.raises(InvalidFlag):
            split_flags([bad])


def test_account_names() -> None:
    assert check_account_name("alice.b-c_1") == "alice.b-c_1"
    for bad in ["", "Alice", "../x", ".hidden", "a/b", "x" * 65]:
        with pytest.raises(UnknownAccount):
            check_account_name(bad)
