"""The account store's interface (postel.store.api): content comes out as
bytes or a stream, never as a path; copies keep flags; and the SQLite
implementation is what the interface describes."""

from __future__ import annotations

import inspect

import pytest

from postel.store.account import AccountStore
from postel.store.api import AccountMail, Accounts
from postel.store.errors import MessageNotFound
from postel.store.store import Store

MSG = b"From: a@example.org\r\nSubject: range\r\n\r\n" + b"0123456789" * 10 + b"\r\n"


def test_read_message_gives_a_byte_range(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", MSG)
    assert acc.read_message(msg.msgid) == MSG
    assert acc.read_message(msg.msgid, 6, 13) == b"a@example.org"
    assert acc.read_message(msg.msgid, len(MSG) - 4) == b"89\r\n"
    assert acc.read_message(msg.msgid, len(MSG) + 10, 5) == b""


def test_a_removed_message_cannot_be_opened(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", MSG)
    acc.remove(msg.msgid)
    with pytest.raises(MessageNotFound):
        acc.open_message(msg.msgid)
    with pytest.raises(MessageNotFound):
        acc.read_message(msg.msgid)


def test_copy_keeps_content_flags_and_date(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", MSG, flags=["\\Seen"], keywords=["$Junk"])
    copy = acc.copy(msg.msgid, "Archive")
    assert copy.mailbox == "Archive" and copy.msgid != msg.msgid
    assert copy.flags == msg.flags and copy.keywords == msg.keywords
    assert copy.received == msg.received
    assert acc.read_message(copy.msgid) == MSG


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize(("protocol", "impl"), [(Accounts, Store), (AccountMail, AccountStore)])
def test_the_sqlite_store_has_every_method_of_the_interface(protocol: type, impl: type) -> None:
    missing = _public(protocol) - _public(impl)
    assert not missing
    for name in _public(protocol):
        want, have = getattr(protocol, name), getattr(impl, name)
        if inspect.isfunction(want):
            assert list(inspect.signature(want).parameters) == list(
                inspect.signature(have).parameters
            ), name


def test_the_interface_names_no_path_for_content() -> None:
    # What comes out of the store is bytes or a stream; a path into the data
    # directory would tie callers to files on this machine.
    for name in _public(AccountMail):
        fn = getattr(AccountMail, name)
        if inspect.isfunction(fn):
            assert "Path" not in str(inspect.signature(fn).return_annotation), name
