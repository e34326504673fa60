"""The webmail and the admin pages of two `postel serve` nodes on one PostgreSQL
store (tests/pgcluster.py), both on one loopback address with their own web
ports, as a browser behind a load balancer would see them: its cookie goes to
both. Mail received by SMTP on node A is listed, found by a word of its body
and opened on node B; a page of node B hears of mail stored by node A (its
event stream, over LISTEN/NOTIFY); a login form from one node logs in on the
other, and the session works on both until a logout on either; the admin pages
load on node B; and chromium (Playwright) does the same as a user would."""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from delivery_peer import issue
from pgnodes import free_port, start_node, stop_node, wait_port

from pgcluster import Cluster, pg_cluster, pg_database
from postel.cli.main import cli
from postel.store.passwords import scrypt_hash

__all__ = ["pg_cluster", "pg_database"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DOMAIN = "webnodes.test"
ADDRESS = f"alice@{DOMAIN}"
PASSWORD = "a password of alice for the web nodes"
ADMIN_PASSWORD = "the admin password of the web nodes"

STATIC = """\
hostname = "node-{name}.{domain}"
postmaster_account = "pm"
admin_password_file = "adminpasswd"

[server]
user = ""

[listeners.main]
ips = ["{ip}"]
internal = true
{tls}smtp = {{ enabled = {smtp}, port = {smtp_port} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
imap = {{ enabled = false }}
imaps = {{ enabled = false }}
web = {{ enabled = true, port = {web_port}, tls = false, webmail = true, admin = true }}

[dns]
nameservers = ["{resolver}"]
timeout = 5

[reports]
no_outgoing_tls_reports = true
no_outgoing_dmarc_reports = true

[limits]
smtp_workers = 1

[storage]
backend = "postgresql"
dsn = "{dsn}"
password_file = "pgpassword"
node_id = "node-{name}"
connect_timeout = 10
"""

DOMAINS = f"""\
[domains."{DOMAIN}"]

[accounts.pm]
domain = "{DOMAIN}"
addresses = ["postmaster@{DOMAIN}"]
"""


@dataclass
class WebNode:
    name: str
    config: Path
    web: int
    smtp: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class WebNodes:
    ip: str
    a: WebNode
    b: WebNode

    def url(self, node: WebNode, path: str) -> str:
        return f"http://{self.ip}:{node.web}{path}"


def _wait_port(ip: str, port: int, node: WebNode) -> None:
    assert node.proc is not None and node.log is not None
    wait_port(ip, port, node.proc, node.log)


@pytest.fixture
def web_nodes(
    testnet: Any, tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> Iterator[WebNodes]:
    ip = testnet.ip()
    dsn = pg_cluster.dsn(pg_database, with_password=False)
    nodes: list[WebNode] = []
    for name in "ab":
        config = tmp_path / name
        config.mkdir()
        node = WebNode(name, config, free_port(ip), free_port(ip))
        tls = ""
        if name == "a":  # SMTP with STARTTLS on node A only
            certs = issue(testnet.ca, f"node-a.{DOMAIN}", config / "certs")
            tls = f'tls_cert_file = "{certs.cert}"\ntls_key_file = "{certs.key}"\n'
        (config / "postel.toml").write_text(
            STATIC.format(
                name=name,
                domain=DOMAIN,
                ip=ip,
                tls=tls,
                smtp="true" if name == "a" else "false",
                smtp_port=node.smtp,
                web_port=node.web,
                resolver=testnet.resolver_ip,
                dsn=dsn,
            )
        )
        (config / "domains.toml").write_text(DOMAINS)
        (config / "pgpassword").write_text(pg_cluster.password + "\n")
        (config / "adminpasswd").write_text(scrypt_hash(ADMIN_PASSWORD) + "\n")
        nodes.append(node)
    a, b = nodes
    run = CliRunner().invoke
    migrated = run(cli, ["config", "migrate-db", "--config", str(a.config)])
    assert migrated.exit_code == 0, migrated.output
    password_file = tmp_path / "alice-password"
    password_file.write_text(PASSWORD + "\n")
    added = run(
        cli,
        ["account", "add", "--config", str(a.config), "alice", ADDRESS,
         "--password-file", str(password_file)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    (b.config / "domains.toml").write_text((a.config / "domains.toml").read_text())
    try:
        for node in nodes:
            start_node(node)
        _wait_port(ip, a.smtp, a)
        for node in nodes:
            _wait_port(ip, node.web, node)
        yield WebNodes(ip, a, b)
    finally:
        for node in nodes:
            stop_node(node)


def _send(nodes: WebNodes, subject: str, body: str, msgid: str, reply_to: str = "") -> None:
    head = (
        f"From: Bob <bob@example.org>\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{msgid}@example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
    )
    if reply_to:
        head += f"In-Reply-To: <{reply_to}@example.org>\r\n"
    with smtplib.SMTP(nodes.ip, nodes.a.smtp, local_hostname="client.example", timeout=20) as s:
        s.sendmail("bob@example.org", [ADDRESS], (head + f"\r\n{body}\r\n").encode())


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None, html[:500]
    return m.group(1)


def _login(client: httpx.Client, form_url: str, post_url: str, data: dict[str, str]) -> None:
    """The login form from one node, posted to (maybe) another."""
    form = client.get(form_url)
    assert form.status_code == 200
    r = client.post(post_url, data={"csrf": _csrf(form.text), **data})
    assert r.status_code == 303, r.text


def _next_changes(lines: Iterator[str], deadline: float) -> dict[str, Any]:
    """The data of the next ``changes`` event of an event stream."""
    event = ""
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event == "changes":
            data: dict[str, Any] = json.loads(line[len("data: ") :])
            return data
    raise AssertionError("no changes event in time")


def test_webmail_on_node_b_lists_searches_and_opens_mail_received_on_node_a(
    web_nodes: WebNodes,
) -> None:
    nodes = web_nodes
    a, b = nodes.a, nodes.b
    _send(nodes, "Quarterly figures", "Croissants and café at the meeting.", "q1")
    _send(nodes, "Re: Quarterly figures", "Numbers attached tomorrow.", "q2", reply_to="q1")
    with httpx.Client(timeout=20, follow_redirects=False) as client:
        # The form from node A, the login on node B: one session for both.
        _login(
            client,
            nodes.url(a, "/webmail/login"),
            nodes.url(b, "/webmail/login"),
            {"address": ADDRESS, "password": PASSWORD},
        )
        for node in (a, b):
            page = client.get(nodes.url(node, "/webmail/mailbox?name=Inbox"))
            assert page.status_code == 200, page.text[:300]
            assert "Quarterly figures" in page.text
        # Full-text search on node B: a word of the body, diacritics folded.
        found = client.get(nodes.url(b, "/webmail/search"), params={"q": "cafe croissants"})
        assert found.status_code == 200
        links = set(re.findall(r'href="/webmail/msg/(\d+)', found.text))
        assert len(links) == 1, found.text[:2000]
        assert "Re: Quarterly" not in found.text
        msgid = links.pop()
        opened = client.get(nodes.url(b, f"/webmail/msg/{msgid}"))
        assert opened.status_code == 200 and "Croissants and café" in opened.text
        # The two messages are one conversation.
        threads = set(re.findall(r'href="/webmail/thread/(\d+)', page.text))
        assert len(threads) == 1, page.text[:2000]
        thread = client.get(nodes.url(b, f"/webmail/thread/{threads.pop()}"))
        assert thread.status_code == 200
        assert "Numbers attached tomorrow" in thread.text or "Re: Quarterly" in thread.text

        # A page on node B hears of a message that node A stores.
        with client.stream("GET", nodes.url(b, "/webmail/events?name=Inbox")) as events:
            assert events.status_code == 200
            lines = events.iter_lines()
            first = _next_changes(lines, time.monotonic() + 20)
            assert first["changed"] == [] and first["mailbox"] == "Inbox"
            sent = time.monotonic()
            _send(nodes, "Heard across nodes", "live", "q3")
            later = _next_changes(lines, time.monotonic() + 20)
            heard = time.monotonic() - sent
        assert [m["subject"] for m in later["changed"]] == ["Heard across nodes"]
        assert heard < 5, f"node B's page heard of the delivery after {heard:.1f} s"

        # A logout on node A ends the session on node B too.
        mailbox = client.get(nodes.url(a, "/webmail/mailbox?name=Inbox"))
        r = client.post(nodes.url(a, "/webmail/logout"), data={"csrf": _csrf(mailbox.text)})
        assert r.status_code == 303
        gone = client.get(nodes.url(b, "/webmail/mailbox?name=Inbox"))
        assert gone.status_code == 303 and "/webmail/login" in gone.headers["location"]


def test_admin_pages_load_on_node_b_with_a_login_made_on_node_a(web_nodes: WebNodes) -> None:
    nodes = web_nodes
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        _login(
            client,
            nodes.url(nodes.b, "/admin/login"),
            nodes.url(nodes.a, "/admin/login"),
            {"password": ADMIN_PASSWORD},
        )
        for path in ("/admin/", "/admin/accounts", "/admin/domains", "/admin/queue"):
            page = client.get(nodes.url(nodes.b, path))
            assert page.status_code == 200, (path, page.text[:300])
        assert "alice" in client.get(nodes.url(nodes.b, "/admin/accounts")).text
        _queue_actions_across_nodes(nodes, client)


def _queue_actions_across_nodes(nodes: WebNodes, client: httpx.Client) -> None:
    """An entry of the shared queue (not due for an hour, so that no runner
    takes it) is listed and held on node B's admin, dropped on node A's."""
    import datetime as dt

    from postel.config import load_config
    from postel.pg.queue import PgQueueEntries
    from postel.wiring import pg_settings

    cfg = load_config(nodes.a.config)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    entries = PgQueueEntries(
        pg_settings(cfg.static.storage, nodes.a.config),
        nodes.a.config / "test-spool",
        node="test",
        now=lambda: later,
    )
    try:
        message = b"From: alice@webnodes.test\r\nSubject: held across\r\n\r\nhi\r\n"
        [eid] = entries.add("alice", ADDRESS, ["bob@elsewhere.test"], message)
        page = client.get(nodes.url(nodes.b, "/admin/queue"))
        assert "bob@elsewhere.test" in page.text and "held across" in page.text
        r = client.post(
            nodes.url(nodes.b, f"/admin/queue/{eid}/hold"), data={"csrf": _csrf(page.text)}
        )
        assert r.status_code == 303
        assert entries.get(eid).hold
        page = client.get(nodes.url(nodes.a, "/admin/queue"))
        r = client.post(
            nodes.url(nodes.a, f"/admin/queue/{eid}/drop"), data={"csrf": _csrf(page.text)}
        )
        assert r.status_code == 303
        assert entries.entries() == []
    finally:
        entries.close()


def test_a_browser_moved_between_nodes_reads_searches_and_sees_new_mail(
    web_nodes: WebNodes,
) -> None:
    """Debian's chromium: logged in on node A, reading on node B, where a new
    message stored by node A shows up in the open Inbox without a reload."""
    from browser import chromium_page, screenshots
    from playwright.sync_api import expect

    nodes = web_nodes
    shot = screenshots("pg-webmail")
    _send(nodes, "Quarterly figures", "Croissants and café at the meeting.", "q1")
    with chromium_page(width=1280, height=900, timeout_ms=20_000) as page:
        page.goto(nodes.url(nodes.a, "/webmail/login"))
        page.fill("input[name=address]", ADDRESS)
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(nodes.url(nodes.a, "/webmail/mailbox?name=Inbox"))
        page.goto(nodes.url(nodes.b, "/webmail/mailbox?name=Inbox"))  # the other node
        rows = page.locator("table.messages tbody tr[data-uid]")
        expect(rows).to_have_count(1)
        page.fill("form.search input[name=q]", "croissants")
        page.press("form.search input[name=q]", "Enter")
        page.wait_for_url(re.compile(r".*/webmail/search\?q=croissants"))
        page.locator("table.messages td.subject a").first.click()
        expect(page.locator("body")).to_contain_text("Croissants and café")
        assert page.url.startswith(nodes.url(nodes.b, "/webmail/msg/"))
        page.goto(nodes.url(nodes.b, "/webmail/mailbox?name=Inbox"))
        expect(rows).to_have_count(1)
        page.wait_for_timeout(500)  # the page's event stream is open
        _send(nodes, "Live across nodes", "hello", "q4")
        expect(rows.first.locator("td.subject")).to_have_text("Live across nodes", timeout=5_000)
        expect(rows).to_have_count(2)
        shot(page, "inbox-on-node-b")
