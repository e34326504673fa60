"""Issue 17: IDLE over the store's change notifications, and CONDSTORE/QRESYNC
(RFC 7162), with imapclient and imaplib against a running postel on loopback.
The fallback re-check is set to 60 s, so what IDLE sees at once came through
the change feed: a message delivered by SMTP, a flag set by another writer."""

from __future__ import annotations

import imaplib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imaplocal import IP, Local, serve_local
from storagebackend import Backend

pytestmark = pytest.mark.integration


@pytest.fixture
def local(tmp_path: Path, storage_backend: Backend) -> Iterator[Local]:
    yield from serve_local(tmp_path, "\n[imap]\nrecheck_interval = 60\n", storage_backend)


def test_imapclient_idle_sees_delivery_and_flags_at_once(local: Local) -> None:
    from imapclient import IMAPClient

    local.send("first")
    with IMAPClient(
        IP, port=local.ports["imaps"], ssl_context=local.client_context(), timeout=20
    ) as c:
        c.login(local.user, local.password)
        assert b"CONDSTORE" in c.capabilities() and b"QRESYNC" in c.capabilities()
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == 1 and info[b"HIGHESTMODSEQ"] >= 1
        c.idle()
        t0 = time.monotonic()
        local.send("while idle")  # through submission: stored by the server
        responses = c.idle_check(timeout=10)
        assert (2, b"EXISTS") in responses, responses
        # Another writer (as the webmail) flags message 1.
        with local.account() as acct:
            acct.set_flags(acct.get_by_uid("Inbox", 1).msgid, ["\\Flagged"], [])
        responses = c.idle_check(timeout=10)
        c.idle_done()
        assert time.monotonic() - t0 < 10  # far below the 60 s re-check
        fetches = [r for r in responses if r[1] == b"FETCH"]
        assert fetches and b"\\Flagged" in fetches[0][2][1], responses
        # CONDSTORE through imapclient: MODSEQ and CHANGEDSINCE.
        mark = c.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"]
        c.add_flags([2], [b"\\Seen"])
        changed = c.fetch([1, 2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {mark}"])
        assert list(changed) == [2] and changed[2][b"MODSEQ"][0] > mark


def _connect(local: Local) -> imaplib.IMAP4_SSL:
    c = imaplib.IMAP4_SSL(IP, local.ports["imaps"], ssl_context=local.client_context(), timeout=20)
    c.login(local.user, local.password)
    return c


def _state_after(local: Local, messages: int) -> tuple[int, int]:
    """Deliver *messages*, then the (UIDVALIDITY, HIGHESTMODSEQ) a client
    leaving the Inbox would remember."""
    for n in range(messages):
        local.send(f"m{n}")
    c = _connect(local)
    c.select("INBOX")
    uidvalidity = int(c.response("UIDVALIDITY")[1][0])
    modseq = int(c.response("HIGHESTMODSEQ")[1][0])
    c.logout()
    return uidvalidity, modseq


def _qresync_select(c: imaplib.IMAP4_SSL, args: str) -> bytes:
    """ENABLE QRESYNC and SELECT INBOX (QRESYNC (*args*)); the whole answer,
    which must end in a tagged OK."""
    typ, _ = c._simple_command("ENABLE", "QRESYNC")  # type: ignore[attr-defined]
    assert typ == "OK"
    tag = c._command("SELECT", "INBOX", f"(QRESYNC ({args}))")  # type: ignore[attr-defined]
    lines = []
    while True:
        line = c.readline()
        lines.append(line)
        if line.startswith(tag):
            break
    text = b"".join(lines)
    assert line.startswith(tag + b" OK"), text
    return text


def test_imaplib_qresync_resync(local: Local) -> None:
    uidvalidity, modseq = _state_after(local, 3)
    # Offline: another client expunges UID 2 and answers UID 3.
    with local.account() as acct:
        acct.remove(acct.get_by_uid("Inbox", 2).msgid)
        acct.set_flags(acct.get_by_uid("Inbox", 3).msgid, ["\\Answered"], [])
    c = _connect(local)
    text = _qresync_select(c, f"{uidvalidity} {modseq} 1:3")
    assert b"* VANISHED (EARLIER) 2\r\n" in text
    assert re.search(rb"\* 2 FETCH \(UID 3 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)", text), text
    c.logout()


def test_imaplib_qresync_from_before_the_trimmed_floor(local: Local) -> None:
    uidvalidity, modseq = _state_after(local, 8)
    # Offline: another writer, keeping 2 removed UIDs per mailbox, expunges
    # UIDs 2 to 6; the oldest of them are no longer kept.
    with local.account() as acct:
        # The account behind IMAP's store (AccountStore or PgAccount) keeps 2.
        acct.account.vanished_keep = 2  # type: ignore[attr-defined]
        for uid in range(2, 7):
            acct.remove(acct.get_by_uid("Inbox", uid).msgid)
        assert not acct.changes_since("Inbox", modseq).vanished_complete
    c = _connect(local)
    text = _qresync_select(c, f"{uidvalidity} {modseq} 1:8")
    # RFC 7162 §3.2.5.2: the known UIDs not in the mailbox now.
    assert b"* VANISHED (EARLIER) 2:6\r\n" in text, text
    c.select("INBOX")  # imaplib's own state, for its UID command
    typ, data = c.uid("SEARCH", "ALL")
    assert typ == "OK" and data[0].split() == [b"1", b"7", b"8"]
    c.logout()
