"""rspamd at delivery with Debian's rspamd on loopback:
messages sent to postel over SMTP are checked by rspamd once each, and the
stored message's X-Postel-Rspamd field and the account's filing show
rspamd's verdict combined with postel's own."""

from __future__ import annotations

import asyncio
import base64
import os
import smtplib
import time
from pathlib import Path

import pytest
from rspamdpeer import rspamd_peer
from serverthread import serving

from postel.config import load_config
from postel.datadir import DataDir
from postel.junk.decide import GTUBE
from postel.junk.filter import JunkFilter, Settings, message_key
from postel.junk.rspamd import check
from postel.junk.rspamdproto import Envelope, parse_url
from postel.localserve import ACCOUNT, ADDRESS, PORTS, ensure_local_config
from postel.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

HEAD = f"From: someone@sender.example\r\nTo: {ADDRESS}\r\nMIME-Version: 1.0\r\n"
PLAIN = (HEAD + "Subject: lunch\r\n\r\nSee you at noon tomorrow.\r\n").encode()
# GTUBE in a base64 text part: postel's own check reads the raw message and
# misses it, rspamd decodes the part and rejects.
GTUBE_B64 = (
    HEAD + "Subject: encoded\r\nContent-Type: text/plain; charset=us-ascii\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
).encode() + base64.encodebytes(b"Hello\r\n" + GTUBE + b"\r\n").replace(b"\n", b"\r\n")
# rspamd's test pattern for its "add header" action.
ADD_HEADER = (HEAD + "Subject: test\r\n\r\n").encode() + b"Y" + GTUBE[1:] + b"\r\n"


def send(ip: str, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP(ip, PORTS["smtp"], timeout=30) as c:
        c.ehlo("client.example")
        c.mail("someone@sender.example")
        c.rcpt(ADDRESS)
        return c.data(data)


def stored(root: Path, mailbox: str) -> list[bytes]:
    deadline = time.monotonic() + 10
    while True:
        with Store(DataDir(root)) as store:
            acc = store.account(ACCOUNT)
            out = []
            for m in acc.list_messages(mailbox):
                with acc.open_message(m.msgid) as f:
                    out.append(f.read())
        if out or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def reasons(jf: JunkFilter, message: bytes) -> tuple[str, ...]:
    deadline = time.monotonic() + 10
    while (filing := jf.filing(ACCOUNT, message_key(message))) is None:
        assert time.monotonic() < deadline, "no filing recorded"
        time.sleep(0.1)
    return filing.reasons


def test_rspamd_verdicts_through_smtp_delivery(tmp_path: Path) -> None:
    ip = f"127.{os.getpid() % 200 + 20}.{int(time.time()) % 250 + 1}.11"
    with rspamd_peer(tmp_path / "rspamd") as url:
        # rspamd itself, asked directly: it rejects GTUBE too.
        direct = asyncio.run(
            check(parse_url(url), HEAD.encode() + b"\r\n" + GTUBE + b"\r\n", Envelope(ip=ip))
        )
        assert direct is not None and direct.action == "reject" and "GTUBE" in direct.symbols

        info = ensure_local_config(tmp_path, ip=ip)
        with (info.config_dir / "postel.toml").open("a") as f:
            f.write(f'\n[junk]\nrspamd_url = "{url}"\nrspamd_timeout = 20\n')
        cfg = load_config(info.config_dir)
        with serving(cfg):
            code, text = send(ip, HEAD.encode() + b"Subject: gtube\r\n\r\n" + GTUBE + b"\r\n")
            assert code == 554 and b"refused as junk (GTUBE test string)" in text
            assert send(ip, PLAIN)[0] == 250
            assert send(ip, GTUBE_B64)[0] == 250
            assert send(ip, ADD_HEADER)[0] == 250
            inbox = stored(cfg.datadir.root, "Inbox")
            rejects = stored(cfg.datadir.root, "Rejects")
            junk = stored(cfg.datadir.root, "Junk")
        jf = JunkFilter(cfg.datadir.accounts_dir, Settings(), None)
        try:
            [plain] = inbox
            assert plain.startswith(b"X-Postel-Rspamd: no action; score=")
            assert plain.endswith(PLAIN)
            assert reasons(jf, plain)[-1].startswith("rspamd: no action (")

            [rejected] = rejects
            assert rejected.startswith(
                b"X-Postel-Rspamd: reject; score=15.00; required=15.00; symbols=GTUBE\r\n"
            )
            assert reasons(jf, rejected) == ("rspamd: reject (15.0)",)

            [added] = junk
            assert added.startswith(b"X-Postel-Rspamd: add header; score=6.00; required=15.00")
            assert reasons(jf, added) == ("rspamd: add header (6.0)",)
        finally:
            jf.close()
