"""/webmail/rows: the rows of the conversation list that live updates fetch
(webmail-live.js), rendered by the list page's own macro, through Starlette's
TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webmail_env import Env, make_env

from postel.web.webmail.rows import MAX_KEYS, thread_keys


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.client.close()
    e.store.close()


def mail(subject: str, msgid: str, in_reply_to: str = "", sender: str = "Ann") -> bytes:
    head = (
        f"From: {sender} <{sender.lower()}@example.org>\r\n"
        f"Subject: {subject}\r\nMessage-ID: {msgid}\r\n"
    )
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
    return (head + "\r\nx\r\n").encode()


def page_rows(env: Env, name: str = "Inbox") -> dict[str, str]:
    """The list page's rows by thread key, white space between tags dropped."""
    page = env.client.get(f"/webmail/mailbox?name={name}").text
    return {
        m.group(1): squeeze(m.group(0))
        for m in re.finditer(
            r'<tr class="\w+" data-msgid="\d+" data-thread="(\d+)".*?</tr>', page, re.S
        )
    }


def squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


def rows(env: Env, *keys: int, name: str = "Inbox") -> Any:
    query = "&".join(f"thread={k}" for k in keys)
    return env.client.get(f"/webmail/rows?name={name}&{query}")


def test_rows_are_the_list_pages_rows_and_follow_a_reply(env: Env) -> None:
    acc = env.account()
    root = acc.deliver_bytes("Inbox", mail("Trip", "<1@x>"), flags=["\\Seen"])
    other = acc.deliver_bytes("Inbox", mail("Other", "<2@x>", sender="Bob"))
    env.login()
    r = rows(env, root.msgid, other.msgid)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    d = r.json()
    assert d["mailbox"] == "Inbox" and d["gone"] == []
    # Newest first, and the very row the page renders (one rendering of a row).
    assert [(x["thread"], x["uid"]) for x in d["rows"]] == [
        (other.msgid, other.uid),
        (root.msgid, root.uid),
    ]
    shown = page_rows(env)
    assert {str(x["thread"]): squeeze(x["html"]) for x in d["rows"]} == shown
    assert 'class="seen"' in d["rows"][1]["html"] and 'class="pick"' in d["rows"][1]["html"]

    reply = acc.deliver_bytes("Inbox", mail("Re: Trip", "<3@x>", "<1@x>", sender="Carol"))
    (row,) = rows(env, root.msgid).json()["rows"]
    assert row["uid"] == reply.uid
    html = row["html"]
    assert f'data-msgid="{reply.msgid}" data-thread="{root.msgid}" data-count="2"' in html
    assert html.startswith('<tr class="unseen"') and 'draggable="true"' in html
    assert f'href="/webmail/thread/{root.msgid}?mailbox=Inbox">Re: Trip</a>' in html
    assert 'title="2 messages in this conversation">2</span>' in html
    assert "Carol" in html
    assert squeeze(html) == page_rows(env)[str(root.msgid)]


def test_threads_gone_from_the_mailbox_are_named(env: Env) -> None:
    acc = env.account()
    a = acc.deliver_bytes("Inbox", mail("A", "<a@x>"))
    b = acc.deliver_bytes("Inbox", mail("B", "<b@x>"))
    acc.move(b.msgid, "Archive")
    env.login()
    d = rows(env, a.msgid, b.msgid, 424242).json()
    assert [x["thread"] for x in d["rows"]] == [a.msgid]
    assert d["gone"] == [b.msgid, 424242]
    archived = rows(env, b.msgid, name="Archive").json()
    assert [x["thread"] for x in archived["rows"]] == [b.msgid]
    assert 'href="/webmail/msg/' in archived["rows"][0]["html"]


def test_bad_requests_are_refused(env: Env) -> None:
    assert env.client.get("/webmail/rows?name=Inbox&thread=1").status_code == 401
    env.login()
    assert rows(env, 1, name="Nowhere").status_code == 404
    assert env.client.get("/webmail/rows?name=Inbox&thread=x").status_code == 400
    many = rows(env, *range(1, MAX_KEYS + 2))
    assert many.status_code == 400 and "at most" in many.json()["error"]
    assert rows(env).json()["rows"] == []


def test_thread_keys() -> None:
    assert thread_keys(["3", "1", "3"]) == [3, 1]
    assert thread_keys(["-1"]) is None
    assert thread_keys(["1" * 20]) is None
    assert thread_keys([str(i) for i in range(MAX_KEYS + 1)]) is None


def test_rows_of_sent_show_the_recipient_as_the_page_does(env: Env) -> None:
    acc = env.account()
    data = b"From: you@localhost\r\nTo: Zoe <zoe@example.net>\r\nSubject: Hi\r\n\r\nx\r\n"
    sent = acc.deliver_bytes("Sent", data, flags=["\\Seen"])
    env.login()
    (row,) = rows(env, sent.msgid, name="Sent").json()["rows"]
    assert "Zoe &lt;zoe@example.net&gt;" in row["html"]
    assert squeeze(row["html"]) == page_rows(env, "Sent")[str(sent.msgid)]
