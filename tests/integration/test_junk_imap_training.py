"""Issue 23 item 1 through the real parts: mail arrives over SMTP at a running
server (localserve's configuration), the user judges it with an IMAP client
(imaplib: UID MOVE of spam to Junk, \\Seen on mail kept in the Inbox), and
the next similar message delivered over SMTP is filed in Junk. The IMAP
version of test_junk_webmail_training.py."""

from __future__ import annotations

import imaplib
import os
import random
import ssl
import time
from pathlib import Path

import pytest
from serverthread import serving
from test_junk_webmail_training import HAM, SPAM, send, text, wait_where

from postel.config import load_config
from postel.localserve import ACCOUNT, PASSWORD, PORTS, ensure_local_config

pytestmark = pytest.mark.integration


def uids_by_subject(c: imaplib.IMAP4_SSL, mailbox: str) -> dict[str, bytes]:
    assert c.select(mailbox)[0] == "OK"
    typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", data
    out: dict[str, bytes] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, header = item
        uid = meta.split(b"UID ", 1)[1].split()[0]
        subject = header.decode().split(":", 1)[1].strip()
        out[subject] = uid
    return out


def test_verdicts_over_imap_file_the_next_message(tmp_path: Path) -> None:
    p = os.getpid() % 200 + 20
    server = f"127.{p}.{int(time.time()) % 200 + 1}.10"
    ham_net, spam_net = f"127.{p}.211.5", f"127.{p}.221.5"
    info = ensure_local_config(tmp_path, ip=server)
    cfg = load_config(info.config_dir)
    data_dir = cfg.datadir.root
    rng = random.Random(23)
    tls = ssl.create_default_context(cafile=str(cfg.dir / "certs/localhost.crt"))
    tls.check_hostname = False  # the certificate names localhost
    with serving(cfg):
        for i in range(12):
            send(server, ham_net, f"project {i}", text(rng, HAM))
        for i in range(20):
            send(server, spam_net, f"win {i}", text(rng, SPAM))
        for i in range(12):
            assert wait_where(data_dir, f"project {i}") == "Inbox"
        assert all(wait_where(data_dir, f"win {i}") == "Inbox" for i in range(20))

        with imaplib.IMAP4_SSL(server, PORTS["imaps"], ssl_context=tls, timeout=30) as c:
            c.login(ACCOUNT, PASSWORD)
            inbox = uids_by_subject(c, "INBOX")
            kept = b",".join(inbox[f"project {i}"] for i in range(12))
            typ, _ = c.uid("STORE", kept.decode(), "+FLAGS.SILENT", "(\\Seen)")
            assert typ == "OK"
            spam = b",".join(inbox[f"win {i}"] for i in range(20))
            typ, data = c.uid("MOVE", spam.decode(), "Junk")
            assert typ == "OK", data
            assert len(uids_by_subject(c, "Junk")) == 20
            c.logout()

        # The next similar message is filed in Junk, the next ham in the Inbox.
        send(server, spam_net, "win again", text(rng, SPAM))
        assert wait_where(data_dir, "win again") == "Junk"
        send(server, ham_net, "project again", text(rng, HAM))
        assert wait_where(data_dir, "project again") == "Inbox"
