"""Conversations in the list, actions on selected conversations, and mailbox
management through Starlette's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webmail_env import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.client.close()
    e.store.close()


def mail(subject: str, msgid: str, in_reply_to: str = "") -> bytes:
    head = f"From: Ann <ann@example.org>\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
    return (head + "\r\nx\r\n").encode()


def conversation(acc: Any) -> list[Any]:
    """Inbox: a conversation of three (one reply in Sent), and one single message."""
    root = acc.deliver_bytes("Inbox", mail("Trip", "<1@x>"))
    sent = acc.deliver_bytes("Sent", mail("Re: Trip", "<2@x>", "<1@x>"), flags=["\\Seen"])
    r2 = acc.deliver_bytes("Inbox", mail("Re: Trip", "<3@x>", "<2@x>"))
    single = acc.deliver_bytes("Inbox", mail("Other", "<4@x>"))
    r3 = acc.deliver_bytes("Inbox", mail("Re: Trip", "<5@x>", "<3@x>"))
    return [root, sent, r2, single, r3]


def post(env: Env, path: str, **data: Any) -> Any:
    return env.client.post(path, data={"csrf": env.csrf(), **data}, follow_redirects=False)


def test_list_shows_conversations_with_their_count(env: Env) -> None:
    root, sent, r2, single, r3 = conversation(env.account())
    env.login()
    page = env.client.get("/webmail/mailbox?name=Inbox").text
    rows = re.findall(
        r'<tr class="(\w+)" data-msgid="(\d+)" data-thread="(\d+)" data-count="(\d+)"', page
    )
    assert rows == [
        ("unseen", str(r3.msgid), str(root.msgid), "3"),
        ("unseen", str(single.msgid), str(single.msgid), "1"),
    ]
    assert f'href="/webmail/thread/{root.msgid}?mailbox=Inbox">Re: Trip</a>' in page
    assert f'href="/webmail/msg/{single.msgid}">Other</a>' in page
    # The conversation: every message, the reply in Sent too, oldest first.
    conv = env.client.get(f"/webmail/thread/{root.msgid}?mailbox=Inbox").text
    ids = [int(i) for i in re.findall(r'data-msgid="(\d+)"', conv)]
    assert ids == [root.msgid, sent.msgid, r2.msgid, r3.msgid]
    assert "4 messages in this conversation" in conv
    read = env.client.get(f"/webmail/msg/{r2.msgid}").text
    assert f'href="/webmail/thread/{root.msgid}?mailbox=Inbox"' in read
    assert env.client.get("/webmail/thread/99999").status_code == 404


def test_selected_conversations_marked_moved_and_deleted(env: Env) -> None:
    acc = env.account()
    root, sent, r2, single, r3 = conversation(acc)
    env.login()
    r = post(env, "/webmail/bulk", box="Inbox", action="read", msg=[str(r3.msgid)])
    assert r.status_code == 303 and r.headers["location"] == "/webmail/mailbox?name=Inbox"
    assert [acc.get(m.msgid).seen for m in (root, r2, r3, single)] == [True, True, True, False]
    assert "3 messages marked read." in env.client.get(r.headers["location"]).text
    post(env, "/webmail/bulk", box="Inbox", action="unread", msg=[str(r3.msgid)])
    assert not acc.get(root.msgid).seen and acc.get(sent.msgid).seen  # Sent not touched
    back = "/webmail/mailbox?name=Inbox&before=9"
    r = post(env, "/webmail/bulk", box="Inbox", action="move", target="Archive",
             msg=[str(r3.msgid), str(single.msgid)], back=back)  # fmt: skip
    assert r.headers["location"] == back
    assert acc.mailbox("Archive").total == 4 and acc.mailbox("Inbox").total == 0
    assert acc.get(sent.msgid).mailbox == "Sent"
    post(env, "/webmail/bulk", box="Archive", action="delete", msg=[str(single.msgid)])
    assert acc.get(single.msgid).mailbox == "Trash"
    post(env, "/webmail/bulk", box="Trash", action="delete", msg=[str(single.msgid)])
    assert acc.mailbox("Trash").total == 0
    # Elsewhere: never to a page of another site.
    r = post(env, "/webmail/bulk", box="Archive", action="read", msg=[str(r3.msgid)],
             back="https://evil.example/")  # fmt: skip
    assert r.headers["location"] == "/webmail/mailbox?name=Archive"
    r = post(env, "/webmail/bulk", box="Archive", action="move", target="Nope", msg=[str(r3.msgid)])
    assert "no mailbox" in env.client.get(r.headers["location"]).text
    r = env.client.post("/webmail/bulk", data={"box": "Archive", "action": "delete", "msg": "1"})
    assert r.status_code == 403  # no CSRF token
    assert acc.mailbox("Archive").total == 3


def test_created_mailboxes_are_subscribed(env: Env) -> None:
    """IMAP clients that list subscriptions see what the webmail made."""
    acc = env.account()
    env.login()
    post(env, "/webmail/mailboxes", action="create", new="Projects/2026")
    assert "Projects/2026" in acc.subscriptions()
    post(env, "/webmail/mailboxes", action="rename", name="Projects/2026", new="Old")
    assert "Old" in acc.subscriptions() and "Projects/2026" not in acc.subscriptions()


def test_create_rename_delete_mailbox(env: Env) -> None:
    acc = env.account()
    env.login()
    r = post(env, "/webmail/mailboxes", action="create", new="Projects/2026")
    assert r.status_code == 303
    assert "Mailbox Projects/2026 created." in env.client.get("/webmail/mailboxes").text
    r = post(env, "/webmail/mailboxes", action="rename", name="Projects/2026", new="Old")
    assert r.status_code == 303 and acc.mailbox("Old").total == 0
    acc.deliver_bytes("Old", mail("kept", "<k@x>"))
    # Delete asks first: nothing is deleted until confirmed.
    r = post(env, "/webmail/mailboxes", action="delete", name="Old")
    assert r.status_code == 200
    assert "Delete the mailbox <strong>Old</strong> and its 1 message?" in r.text
    assert acc.mailbox("Old").total == 1
    r = post(env, "/webmail/mailboxes", action="delete", name="Old", confirm="yes")
    assert r.status_code == 303
    assert "Old" not in [b.name for b in acc.mailboxes()]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"action": "create", "new": "a*b"}, "“a*b” cannot be a mailbox name"),
        ({"action": "create", "new": "trash"}, "“trash” is the name of a special mailbox."),
        ({"action": "create", "new": "Archive"}, "“Archive” is the name of a special mailbox."),
        ({"action": "create", "new": "x//y"}, "empty hierarchy part"),
        ({"action": "create", "new": "Work"}, "A mailbox “Work” already exists."),
        ({"action": "rename", "name": "Junk", "new": "Spam"}, "Junk is a special mailbox"),
        ({"action": "delete", "name": "Inbox"}, "Inbox is a special mailbox"),
        ({"action": "delete", "name": "Sent", "confirm": "yes"}, "Sent is a special mailbox"),
        ({"action": "rename", "name": "Work", "new": "Drafts"}, "is the name of a special"),
        ({"action": "empty", "name": "Work"}, "Only Trash and Junk can be emptied."),
    ],
)
def test_refused_changes_say_why_in_the_page(env: Env, data: dict[str, str], error: str) -> None:
    acc = env.account()
    acc.create_mailbox("Work")
    before = [(b.name, b.total) for b in acc.mailboxes()]
    env.login()
    r = post(env, "/webmail/mailboxes", **data)
    assert r.status_code == 400
    alert = re.search(r'role="alert" id="mailbox-error">([^<]*)<', r.text)
    assert alert is not None and error in alert.group(1), r.text
    assert [(b.name, b.total) for b in acc.mailboxes()] == before


def test_empty_trash_after_confirmation(env: Env) -> None:
    acc = env.account()
    for i in range(3):
        acc.deliver_bytes("Trash", mail(f"old {i}", f"<o{i}@x>"))
    kept = acc.deliver_bytes("Inbox", mail("keep", "<keep@x>"))
    env.login()
    listing = env.client.get("/webmail/mailbox?name=Trash").text
    assert ">Empty Trash</button>" in listing
    r = post(env, "/webmail/mailboxes", action="empty", name="Trash")
    assert r.status_code == 200 and "Delete the 3 messages in <strong>Trash</strong>" in r.text
    assert acc.mailbox("Trash").total == 3
    r = post(env, "/webmail/mailboxes", action="empty", name="Trash", confirm="yes")
    assert r.headers["location"] == "/webmail/mailbox?name=Trash"
    assert acc.mailbox("Trash").total == 0 and acc.get(kept.msgid).mailbox == "Inbox"
    assert ">Empty Trash</button>" not in env.client.get("/webmail/mailbox?name=Trash").text
