"""Webmail pages through Starlette's TestClient: login, CSRF, lists, reading, compose."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from webmail_env import Env, make_env

from postel.dns.mock import MockResolver
from postel.errors import SMTPReplyError
from postel.localserve import ADDRESS, PASSWORD

HTML_MAIL = (
    b"From: Mallory <mallory@example.org>\r\nTo: you@postel.localhost\r\n"
    b"Subject: html test\r\nMessage-ID: <m1@example.org>\r\n"
    b"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
    b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p onclick=alert(1)>Hello <b>there</b><script>alert(2)</script>"
    b'<img src="https://tracker.example/p.gif"></p>\r\n'
    b"--XX\r\nContent-Type: application/pdf\r\n"
    b"Content-Disposition: attachment; filename=doc.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n"
)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.client.close()
    e.store.close()


def test_login_required_and_wrong_password(env: Env) -> None:
    r = env.client.get("/webmail/mailbox?name=Inbox", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/webmail/login?next=/webmail/mailbox%3Fname%3DInbox"
    assert env.client.get("/webmail/api/recipientsecurity?address=a@b.c").status_code == 401
    r = env.login(password="wrong")
    assert r.status_code == 401
    assert "Wrong address or password" in r.text
    r = env.login(address="nobody@postel.localhost")
    assert r.status_code == 401
    r = env.login()
    assert r.status_code == 303
    assert "postel_webmail" in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    assert env.client.get("/webmail/mailbox?name=Inbox").status_code == 200


def test_login_post_without_csrf_token_is_refused(env: Env) -> None:
    env.client.get("/webmail/login")
    r = env.client.post("/webmail/login", data={"address": ADDRESS, "password": "x"})
    assert r.status_code == 403


def test_cross_origin_post_is_refused(env: Env) -> None:
    env.login()
    token = env.csrf()
    r = env.client.post(
        "/webmail/compose",
        data={"csrf": token, "from": ADDRESS, "to": "a@b.example", "action": "send"},
        headers={"origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert env.submitter.sent == []


def test_session_fixation_new_id_after_login(env: Env) -> None:
    env.client.get("/webmail/login")
    before = env.client.cookies.get("postel_webmail")
    env.login()
    assert env.client.cookies.get("postel_webmail") != before


def test_read_html_message_sanitised_with_attachment(env: Env) -> None:
    msg = env.account().deliver_bytes("Inbox", HTML_MAIL)
    env.login()
    listing = env.client.get("/webmail/mailbox?name=Inbox").text
    assert "html test" in listing and f"/webmail/msg/{msg.msgid}" in listing
    page = env.client.get(f"/webmail/msg/{msg.msgid}")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data:;" in csp and "https:" not in csp
    frame = re.search(r'<iframe[^>]*sandbox="([^"]*)"[^>]*srcdoc="([^"]*)"', page.text)
    assert frame is not None
    assert "allow-scripts" not in frame.group(1) and "allow-same-origin" not in frame.group(1)
    srcdoc = frame.group(2)
    assert "alert" not in srcdoc and "onclick" not in srcdoc
    assert "tracker.example" not in srcdoc
    assert "&lt;b&gt;there&lt;/b&gt;" in srcdoc  # the body, escaped into the attribute
    assert "Show remote content" in page.text
    remote = env.client.get(f"/webmail/msg/{msg.msgid}?remote=1")
    assert "tracker.example" in remote.text
    assert "https:" in remote.headers["content-security-policy"]
    # Marked as seen.
    assert env.account().get(msg.msgid).seen
    # The attachment downloads, never renders inline.
    att = re.search(rf'/webmail/msg/{msg.msgid}/part/(\d+)">doc.pdf', page.text)
    assert att is not None
    dl = env.client.get(f"/webmail/msg/{msg.msgid}/part/{att.group(1)}")
    assert dl.content == b"%PDF-1.4\n"
    assert dl.headers["content-disposition"].startswith("attachment")
    assert dl.headers["content-type"] == "application/octet-stream"


def test_other_accounts_cannot_be_read(env: Env) -> None:
    env.login()
    assert env.client.get("/webmail/msg/99999").status_code == 404


def test_pagination_by_cursor(env: Env) -> None:
    acc = env.account()
    for i in range(1, 121):
        acc.deliver_bytes("Archive", f"From: a@b.example\r\nSubject: n{i}\r\n\r\nx\r\n".encode())
    env.login()
    first = env.client.get("/webmail/mailbox?name=Archive").text
    subjects = re.findall(r">n(\d+)</a>", first)
    assert subjects[0] == "120" and subjects[-1] == "71" and len(subjects) == 50
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = env.client.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r">n(\d+)</a>", second)[0] == "70"
    newer = re.search(r'href="([^"]+)" rel="prev"', second)
    assert newer is not None
    back = env.client.get(newer.group(1).replace("&amp;", "&")).text
    assert re.findall(r">n(\d+)</a>", back) == subjects


def test_deep_page_of_100k_messages_is_fast(env: Env) -> None:
    acc = env.account()
    conn = acc._conn
    box = acc.mailbox("Inbox").id
    n = 100_000
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO message (mailbox_id, uid, size, received, subject) VALUES (?, ?, 100, ?, ?)",
        ((box, uid, "2024-01-01T00:00:00+00:00", f"s{uid}") for uid in range(1, n + 1)),
    )
    conn.execute("UPDATE message SET thread_id = id")  # each its own conversation
    conn.execute(
        "UPDATE mailbox SET uidnext = ?, total = ?, unseen = ? WHERE id = ?", (n + 1, n, n, box)
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    env.login()
    env.client.get("/webmail/mailbox?name=Inbox")  # warm up
    t0 = time.monotonic()
    deep = env.client.get("/webmail/mailbox?name=Inbox&before=137")
    elapsed = time.monotonic() - t0
    assert re.findall(r">s(\d+)</a>", deep.text)[:2] == ["136", "135"]
    assert elapsed < 1.0, elapsed


def test_compose_send_with_requiretls_and_sent_copy(env: Env) -> None:
    env.login()
    r = env.client.post(
        "/webmail/compose",
        data={
            "csrf": env.csrf(),
            "from": ADDRESS,
            "to": "Bob <bob@example.org>, carol@example.net",
            "cc": "",
            "bcc": "dave@example.com",
            "subject": "hello ✓",
            "body": "line one\nline two",
            "requiretls": "on",
            "action": "send",
        },
        files=[("attachments", ("notes.txt", b"some notes", "text/plain"))],
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    [sent] = env.submitter.sent
    assert sent.account == "you" and sent.mail_from == ADDRESS and sent.requiretls
    assert sent.rcpts == ["bob@example.org", "carol@example.net", "dave@example.com"]
    parsed = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert parsed["Subject"] == "hello ✓"
    assert parsed["Bcc"] is None  # never in the sent message
    assert parsed["Message-ID"] and parsed["Date"]
    names = [p.get_filename() for p in parsed.iter_attachments()]
    assert names == ["notes.txt"]
    sent_box = env.account().list_messages("Sent")
    assert len(sent_box) == 1 and sent_box[0].requiretls


def test_send_refused_shows_error(env: Env) -> None:
    env.submitter.refuse = SMTPReplyError(550, "5.7.30", "REQUIRETLS not supported")
    env.login()
    r = env.client.post(
        "/webmail/compose",
        data={
            "csrf": env.csrf(),
            "from": ADDRESS,
            "to": "bob@example.org",
            "subject": "s",
            "body": "b",
            "action": "send",
        },
    )
    assert r.status_code == 400
    assert "5.7.30" in r.text and 'value="bob@example.org"' in r.text
    assert env.account().list_messages("Sent") == []


def test_from_must_be_own_address_and_recipients_valid(env: Env) -> None:
    env.login()
    r = env.client.post(
        "/webmail/compose",
        data={
            "csrf": env.csrf(),
            "from": "ceo@example.org",
            "to": "bob@example.org",
            "action": "send",
        },
    )
    assert r.status_code == 400 and "not an address of your account" in r.text
    r = env.client.post(
        "/webmail/compose",
        data={"csrf": env.csrf(), "from": ADDRESS, "to": "bob@@example", "action": "send"},
    )
    assert r.status_code == 400 and "not an address" in r.text
    assert env.submitter.sent == []


def test_draft_save_reopen_and_send_removes_it(env: Env) -> None:
    env.login()
    r = env.client.post(
        "/webmail/compose",
        data={
            "csrf": env.csrf(),
            "from": ADDRESS,
            "to": "bob@example.org",
            "bcc": "eve@example.org",
            "subject": "draft one",
            "body": "wip",
            "action": "save",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    draft_id = int(r.headers["location"].rsplit("=", 1)[1])
    drafts = env.account().list_messages("Drafts")
    assert [m.msgid for m in drafts] == [draft_id] and "\\Draft" in drafts[0].flags
    page = env.client.get(r.headers["location"]).text
    assert 'value="draft one"' in page and "eve@example.org" in page
    r = env.client.post(
        "/webmail/compose",
        data={
            "csrf": env.csrf(),
            "from": ADDRESS,
            "to": "bob@example.org",
            "subject": "draft one",
            "body": "done",
            "draft_id": str(draft_id),
            "action": "send",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert env.account().list_messages("Drafts") == []
    assert len(env.submitter.sent) == 1


def test_reply_and_forward_prefill(env: Env) -> None:
    msg = env.account().deliver_bytes("Inbox", HTML_MAIL)
    env.login()
    reply = env.client.get(f"/webmail/compose?reply={msg.msgid}").text
    assert 'value="mallory@example.org"' in reply and 'value="Re: html test"' in reply
    assert "&lt;m1@example.org&gt;" in reply  # In-Reply-To
    fwd = env.client.get(f"/webmail/compose?forward={msg.msgid}").text
    assert 'value="Fwd: html test"' in fwd and "doc.pdf" in fwd
    keep = re.search(r'name="keep" value="([^"]+)"', fwd)
    assert keep is not None
    r = env.client.post(
        "/webmail/compose",
        data={
            "csrf": env.csrf(),
            "from": ADDRESS,
            "to": "x@example.org",
            "subject": "Fwd: html test",
            "body": "fyi",
            "keep": keep.group(1),
            "action": "send",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    parsed = email.message_from_bytes(env.submitter.sent[0].data, policy=email.policy.default)
    [att] = list(parsed.iter_attachments())
    assert att.get_filename() == "doc.pdf" and att.get_content() == b"%PDF-1.4\n"


def test_delete_moves_to_trash_then_removes(env: Env) -> None:
    msg = env.account().deliver_bytes("Inbox", HTML_MAIL)
    env.login()
    env.client.post(
        f"/webmail/msg/{msg.msgid}/action", data={"csrf": env.csrf(), "action": "delete"}
    )
    assert env.account().get(msg.msgid).mailbox == "Trash"
    env.client.post(
        f"/webmail/msg/{msg.msgid}/action", data={"csrf": env.csrf(), "action": "delete"}
    )
    assert env.account().list_messages("Trash") == []


def test_security_api(tmp_path: Path) -> None:
    resolver = MockResolver(
        {
            ("signed.example", "MX"): ["10 mx.signed.example."],
            ("mx.signed.example", "A"): ["192.0.2.25"],
            ("mx.signed.example", "AAAA"): [],
            ("_25._tcp.mx.signed.example", "TLSA"): ["3 1 1 " + "cd" * 32],
        },
        authentic=True,
    )
    env = make_env(tmp_path, resolver)
    try:
        env.account().remember_domain_security("signed.example", True, True)
        env.login()
        r = env.client.get("/webmail/api/recipientsecurity", params={"address": "a@signed.example"})
        assert r.status_code == 200
        body = r.json()
        assert body["starttls"] == "yes" and body["dnssec"] == "yes" and body["dane"] == "yes"
        assert body["requiretls"] == "yes" and body["mtasts"] == "no"
        assert body["requiretls_safe"] is True
        assert set(body["details"]) == {"starttls", "mtasts", "dnssec", "dane", "requiretls"}
        bad = env.client.get("/webmail/api/recipientsecurity", params={"address": "nope"})
        assert bad.status_code == 400 and "error" in bad.json()
    finally:
        env.client.close()
        env.store.close()


def test_localserve_app_serves_webmail(tmp_path: Path) -> None:
    """`postel localserve` configures a webmail listener: the listener app mounts it."""
    from starlette.testclient import TestClient

    from postel.config import load_config
    from postel.localserve import ensure_local_config
    from postel.store import Store
    from postel.web.app import build_app

    cfg = load_config(ensure_local_config(tmp_path).config_dir)
    [lst] = cfg.static.listeners.values()
    assert lst.web.webmail and lst.ips == ["127.0.0.1"]
    store = Store(cfg.datadir)
    app = build_app(cfg, store, MockResolver({}), admin=True, webmail=True, mtasts=False)
    with TestClient(app) as client:
        r = client.get("/webmail/login")
        assert r.status_code == 200 and "Log in to webmail" in r.text
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert client.get("/static/webmail.js").status_code == 200
        # An admin session cookie name is not accepted by the webmail, and vice versa.
        client.cookies.set("postel_webmail", "x")
        assert client.get("/webmail/compose", follow_redirects=False).status_code == 303
    store.close()


def test_login_from_a_deep_link_returns_to_it(env: Env) -> None:
    """Issue 22: logging in from a deep link lands on that page, not on Inbox."""
    msg = env.account().deliver_bytes("Inbox", HTML_MAIL)
    deep = f"/webmail/msg/{msg.msgid}"
    r = env.client.get(deep, follow_redirects=False)
    assert r.status_code == 303
    login_page = env.client.get(r.headers["location"])
    assert f'name="next" value="{deep}"' in login_page.text
    m = re.search(r'name="csrf" value="([^"]+)"', login_page.text)
    assert m
    r = env.client.post(
        "/webmail/login",
        data={"address": ADDRESS, "password": PASSWORD, "csrf": m.group(1), "next": deep},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == deep


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/webmail/",
        "/admin/",
        "/webmail/../admin/",
        "/webmail/%2e%2e/admin/",
        "/webmail\\evil",
        "/webmail/logout",
    ],
)
def test_login_never_redirects_elsewhere(env: Env, target: str) -> None:
    env.client.get("/webmail/login")
    r = env.client.post(
        "/webmail/login",
        data={"address": ADDRESS, "password": PASSWORD, "csrf": env.csrf(), "next": target},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/webmail/"


def test_list_counts_and_recipient_column(env: Env) -> None:
    """Issue 22: "1 message" (not "1 messages"); Sent and Drafts list recipients as To;
    the unread badge and unread rows have different classes."""
    env.account().deliver_bytes("Inbox", HTML_MAIL)
    env.account().deliver_bytes(
        "Sent", b"From: you@postel.localhost\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nx\r\n"
    )
    env.login()
    inbox = env.client.get("/webmail/mailbox?name=Inbox").text
    assert "1 message, 1 unread" in inbox and "1 messages" not in inbox
    assert '<th class="party">From</th>' in inbox
    assert 'class="count"' in inbox and '<span class="unseen">' not in inbox
    sent = env.client.get("/webmail/mailbox?name=Sent").text
    assert '<th class="party">To</th>' in sent and "bob@example.org" in sent
    drafts = env.client.get("/webmail/mailbox?name=Drafts").text
    assert '<th class="party">To</th>' in drafts and "0 messages" in drafts


def test_security_api_local_and_unknown_local_recipient(env: Env) -> None:
    """Issue 22: a recipient of this server is delivered locally (no DNS looked up);
    an address of our domain that no account has is an error before sending."""
    env.login()
    r = env.client.get("/webmail/api/recipientsecurity", params={"address": ADDRESS})
    body = r.json()
    assert r.status_code == 200 and body["delivery"] == "local", body
    assert body["undeliverable"] is False
    assert "never travels" in body["notes"][0]
    r = env.client.get(
        "/webmail/api/recipientsecurity", params={"address": "nobody@postel.localhost"}
    )
    body = r.json()
    assert body["delivery"] == "nouser" and body["undeliverable"] is True
    assert "does not exist on this server" in body["problem"]
    assert env.resolver.queries == []


def test_search_page(env: Env) -> None:
    """Issue 22 item 2: the search box finds mail by body text and by operators."""
    acc = env.account()
    acc.deliver_bytes(
        "Inbox", b"From: carol@example.org\r\nSubject: picnic\r\n\r\nBring the lemonade.\r\n"
    )
    acc.deliver_bytes("Archive", HTML_MAIL, flags=["\\Seen"])
    env.login()
    page = env.client.get("/webmail/search", params={"q": "lemonade"}).text
    assert "1 result for “lemonade”" in page and ">picnic</a>" in page
    page = env.client.get("/webmail/search", params={"q": "from:mallory@example.org"}).text
    assert ">html test</a>" in page and ">Archive</a>" in page and "picnic" not in page
    page = env.client.get("/webmail/search", params={"q": "has:attachment there"}).text
    assert ">html test</a>" in page
    bad = env.client.get("/webmail/search", params={"q": "before:someday"})
    assert bad.status_code == 400 and "a date is written YYYY-MM-DD" in bad.text
    assert env.client.get("/webmail/search").status_code == 200


def test_unknown_url_and_mailbox_get_the_webmail_not_found_page(env: Env) -> None:
    r = env.client.get("/webmail/no/such/page", follow_redirects=False)
    assert r.status_code == 303  # behind the login, as every webmail URL
    assert r.headers["location"] == "/webmail/login?next=/webmail/no/such/page"
    env.login()
    for url, what in [
        ("/webmail/no/such/page", "page /webmail/no/such/page"),
        ("/webmail/mailbox?name=Nope", "mailbox &#39;Nope&#39;"),
    ]:
        r = env.client.get(url)
        assert r.status_code == 404
        assert '<link rel="stylesheet" href="/static/webmail.css">' in r.text
        assert f"There is no {what}." in r.text


def test_login_page_when_logged_in_goes_on_to_next(env: Env) -> None:
    env.login()
    r = env.client.get("/webmail/login?next=/webmail/mailbox%3Fname%3DSent", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/webmail/mailbox?name=Sent"
    r = env.client.get("/webmail/login?next=https://evil.example/", follow_redirects=False)
    assert r.headers["location"] == "/webmail/"
