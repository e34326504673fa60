"""Issue 23's done-when, through the real parts: mail arrives over SMTP at a
running server, the user judges it in the webmail (reads mail in the Inbox,
moves spam to Junk, moves a wanted message out of Junk), and the next
messages are filed by those verdicts. Each sender connects from its own
loopback network, its only verified identity here (no DNS: no SPF, DKIM or
DMARC pass), so reputation is by network (/24)."""

from __future__ import annotations

import os
import random
import re
import smtplib
import time
from pathlib import Path

import httpx
import pytest
from serverthread import serving

from postel.config import load_config
from postel.datadir import DataDir
from postel.localserve import ACCOUNT, ADDRESS, PASSWORD, PORTS, ensure_local_config
from postel.store import Store

pytestmark = pytest.mark.integration

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]
COMMON = ["the", "and", "you", "for", "with", "this", "that", "have", "from", "your"]


def text(rng: random.Random, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab + COMMON) for _ in range(60))


def send(server: str, source: str, subject: str, body: str) -> None:
    data = (
        f"From: sender@example.net\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{time.time_ns()}@example.net>\r\n\r\n{body}\r\n"
    ).encode()
    with smtplib.SMTP(server, PORTS["smtp"], timeout=30, source_address=(source, 0)) as c:
        c.ehlo("client.example")
        c.mail("sender@example.net")
        c.rcpt(ADDRESS)
        code, reply = c.data(data)
        assert code == 250, reply


def where(data_dir: Path, subject: str) -> str | None:
    """The mailbox holding the message with *subject*, once delivered."""
    with Store(DataDir(data_dir)) as store:
        acc = store.account(ACCOUNT)
        for box in ("Inbox", "Junk", "Rejects"):
            try:
                msgs = acc.list_messages(box, limit=1000)
            except Exception:
                continue
            if any(m.subject == subject for m in msgs):
                return box
    return None


def wait_where(data_dir: Path, subject: str) -> str:
    deadline = time.monotonic() + 15
    while (box := where(data_dir, subject)) is None:
        assert time.monotonic() < deadline, f"{subject!r} not delivered"
        time.sleep(0.1)
    return box


class Webmail:
    def __init__(self, base: str) -> None:
        self.c = httpx.Client(base_url=base, timeout=30)
        page = self.c.get("/webmail/login").text
        r = self.c.post(
            "/webmail/login",
            data={"address": ADDRESS, "password": PASSWORD, "csrf": self.csrf(page)},
        )
        assert r.status_code in (200, 303), r.text

    @staticmethod
    def csrf(page: str) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        assert m, page
        return m.group(1)

    def ids(self, box: str) -> dict[str, int]:
        """Subject -> msgid of the rows of *box*'s first page."""
        page = self.c.get("/webmail/mailbox", params={"name": box}).text
        rows = re.findall(r'data-msgid="(\d+)".*?class="open" href="[^"]*">([^<]*)</a>', page, re.S)
        return {subject: int(msgid) for msgid, subject in rows}

    def bulk(self, box: str, action: str, msgids: list[int], target: str = "") -> None:
        page = self.c.get("/webmail/mailbox", params={"name": box}).text
        data = {"csrf": self.csrf(page), "box": box, "action": action, "target": target,
                "msg": [str(i) for i in msgids]}  # fmt: skip
        r = self.c.post("/webmail/bulk", data=data)
        assert r.status_code in (200, 303), r.text


def test_verdicts_in_the_webmail_file_the_next_messages(tmp_path: Path) -> None:
    p = os.getpid() % 200 + 20
    server = f"127.{p}.{int(time.time()) % 200 + 1}.9"
    ham_net, spam_net, list_net = f"127.{p}.210.5", f"127.{p}.220.5", f"127.{p}.230.5"
    info = ensure_local_config(tmp_path, ip=server)
    cfg = load_config(info.config_dir)
    data_dir = cfg.datadir.root
    rng = random.Random(11)
    with serving(cfg):
        web = Webmail(f"http://{server}:{PORTS['web']}")
        # Mail the user reads and keeps in the Inbox.
        for i in range(12):
            send(server, ham_net, f"project {i}", text(rng, HAM))
        for i in range(12):
            wait_where(data_dir, f"project {i}")
        kept = web.ids("Inbox")
        web.bulk("Inbox", "read", [kept[f"project {i}"] for i in range(12)])
        # Twenty spam messages, still in the Inbox of a filter that knows no spam.
        for i in range(20):
            send(server, spam_net, f"win {i}", text(rng, SPAM))
        assert all(wait_where(data_dir, f"win {i}") == "Inbox" for i in range(20))
        inbox = web.ids("Inbox")
        web.bulk("Inbox", "move", [inbox[f"win {i}"] for i in range(20)], target="Junk")

        # The next similar message is filed in Junk.
        send(server, spam_net, "win again", text(rng, SPAM))
        assert wait_where(data_dir, "win again") == "Junk"
        # The user sees why: the filing and its reasons on the message's page.
        # (Recorded in the background after the reply, gathered for a moment.)
        url = f"/webmail/msg/{web.ids('Junk')['win again']}"
        deadline = time.monotonic() + 10
        while (
            filing := re.search(r'id="junk-filing">([^<]*)<', page := web.c.get(url).text)
        ) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert filing is not None, page
        assert filing.group(1).startswith("filed in Junk"), filing.group(1)
        assert "you marked mail from ip:" in filing.group(1) or "junk score" in filing.group(1)
        # And from a sender the user has not judged, by its words alone.
        send(server, list_net, "prize newsletter", text(rng, SPAM))
        assert wait_where(data_dir, "prize newsletter") == "Junk"
        # The user wants that one: out of Junk, and the sender's next is in the Inbox.
        junk = web.ids("Junk")
        web.bulk("Junk", "move", [junk["prize newsletter"]], target="Inbox")
        send(server, list_net, "prize newsletter 2", text(rng, SPAM))
        assert wait_where(data_dir, "prize newsletter 2") == "Inbox"
