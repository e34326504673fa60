"""Issue 17 item 4 (first slice): real IMAP clients against a running postel
on loopback. Each logs in, lists, selects, fetches, sets flags, moves and
appends to Sent; a message sent by SMTP shows up (IDLE or NOOP)."""

from __future__ import annotations

import asyncio
import email
import imaplib
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imaplocal import IP, Local, mbsync, mbsync_config, serve_local
from storagebackend import Backend

pytestmark = pytest.mark.integration

SENT = (
    b"From: you@postel.localhost\r\nTo: friend@postel.localhost\r\n"
    b"Subject: sent by a client\r\n\r\nkept in Sent\r\n"
)


@pytest.fixture
def local(tmp_path: Path, storage_backend: Backend) -> Iterator[Local]:
    yield from serve_local(tmp_path, backend=storage_backend)


class Sessions(logging.Handler):
    """The server's IMAP log records: which sessions logged in, which used COMPRESS."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def compressed(self) -> int:
        """Sessions that turned on COMPRESS=DEFLATE (RFC 4978)."""
        return self.messages.count("imap compression on")

    def logins(self) -> int:
        return self.messages.count("imap authenticated")


@pytest.fixture
def sessions() -> Iterator[Sessions]:
    logger = logging.getLogger("postel.imapserver")
    handler, level = Sessions(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def mailbox_total(local: Local, name: str) -> int:
    with local.account() as account:
        return account.mailbox(name).total


def test_imaplib(local: Local) -> None:
    local.send("one")
    c = imaplib.IMAP4_SSL(IP, local.ports["imaps"], ssl_context=local.client_context(), timeout=20)
    c.login(local.user, local.password)
    typ, boxes = c.list()
    assert typ == "OK" and any(b"\\Sent" in b for b in boxes if isinstance(b, bytes))
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    typ, data = c.uid("FETCH", "1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"Subject: one" in data[0][1]
    c.uid("STORE", "1", "+FLAGS", "(\\Seen \\Flagged)")
    typ, data = c.uid("SEARCH", None, "FLAGGED")
    assert data == [b"1"]
    c.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(time.time()), SENT)
    typ, _ = c.uid("MOVE", "1", "Archive")
    assert typ == "OK"
    # A message sent by SMTP meanwhile: IDLE reports it (RFC 2177).
    c.send(b"i1 IDLE\r\n")
    assert c.readline().startswith(b"+")
    local.send("two")
    line = c.readline()
    assert line.endswith(b"EXISTS\r\n"), line
    c.send(b"DONE\r\n")
    assert c.readline().startswith(b"i1 OK")
    typ, data = c.fetch("1", "(RFC822)")
    assert email.message_from_bytes(data[0][1])["Subject"] == "two"
    c.logout()
    assert mailbox_total(local, "Archive") == 1 and mailbox_total(local, "Sent") == 1


def test_imaplib_extensions(local: Local) -> None:
    """MULTIAPPEND, SEARCHRES, BINARY and UTF8=ACCEPT through imaplib's raw
    commands (it has no calls of its own for them)."""
    local.send("for the extensions")
    c = imaplib.IMAP4_SSL(IP, local.ports["imaps"], ssl_context=local.client_context(), timeout=20)
    c.login(local.user, local.password)
    caps = c.capability()[1][0].split()
    for cap in (b"MULTIAPPEND", b"SEARCHRES", b"BINARY", b"UTF8=ACCEPT", b"COMPRESS=DEFLATE"):
        assert cap in caps
    # Two messages in one APPEND with LITERAL+ (RFC 3502, RFC 7888): one UID set.
    two = b"(\\Seen) {%d+}\r\n%s {%d+}\r\n%s" % (len(SENT), SENT, len(SENT), SENT)
    typ, data = c._simple_command("APPEND", "Sent", two)
    assert typ == "OK" and re.match(rb"\[APPENDUID \d+ 1:2\]", data[0]), data
    assert mailbox_total(local, "Sent") == 2
    # SEARCH RETURN (SAVE), then "$" (RFC 5182).
    c.select("INBOX")
    typ, _ = c._simple_command("SEARCH", "RETURN", "(SAVE)", "SUBJECT", '"the extensions"')
    assert typ == "OK"
    typ, data = c.fetch("$", "(UID BINARY.PEEK[1] BINARY.SIZE[1])")
    assert typ == "OK" and data[0][1] == b"body of for the extensions\r\n", data
    # UTF-8 mailbox names once enabled (RFC 6855).
    c.unselect()
    c.enable("UTF8=ACCEPT")
    assert c._simple_command("CREATE", '"Bücher"')[0] == "OK"
    typ, boxes = c.list()
    assert (b'(\\HasNoChildren) "/" {7}', "Bücher".encode()) in boxes, boxes
    assert c.select('"Bücher"')[0] == "OK"
    c.logout()


def test_imaplib_starttls(local: Local) -> None:
    c = imaplib.IMAP4(IP, local.ports["imap"], timeout=20)
    assert "LOGINDISABLED" in c.capabilities
    c.starttls(local.client_context())
    c.login(local.user, local.password)
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def test_imapclient(local: Local) -> None:
    from imapclient import IMAPClient

    local.send("for imapclient")
    with IMAPClient(
        IP, port=local.ports["imaps"], ssl_context=local.client_context(), timeout=20
    ) as c:
        c.login(local.user, local.password)
        folders = {name: flags for flags, _, name in c.list_folders()}
        assert b"\\Sent" in folders["Sent"] and "INBOX" in folders
        assert c.find_special_folder(b"\\Sent") == "Sent"
        info = c.select_folder("INBOX")
        assert info[b"EXISTS"] == 1
        uids = c.search(["ALL"])
        data = c.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "RFC822.SIZE", "FLAGS"])
        env = data[uids[0]][b"ENVELOPE"]
        assert env.subject == b"for imapclient"
        c.add_flags(uids, [b"\\Flagged"])
        assert b"\\Flagged" in c.get_flags(uids)[uids[0]]
        c.append("Sent", SENT, flags=[b"\\Seen"])
        c.move(uids, "Archive")
        c.idle()
        local.send("while idle")
        responses = c.idle_check(timeout=10)
        c.idle_done()
        assert any(r[1] == b"EXISTS" for r in responses), responses
    assert mailbox_total(local, "Archive") == 1 and mailbox_total(local, "Sent") == 1


def test_aioimaplib(local: Local) -> None:
    import aioimaplib

    local.send("for aioimaplib")

    async def main() -> None:
        c = aioimaplib.IMAP4_SSL(
            host=IP, port=local.ports["imaps"], ssl_context=local.client_context(), timeout=20
        )
        await c.wait_hello_from_server()
        assert (await c.login(local.user, local.password)).result == "OK"
        resp = await c.list('""', "*")
        assert resp.result == "OK" and any(b"\\Sent" in line for line in resp.lines)
        resp = await c.select("INBOX")
        assert resp.result == "OK"
        resp = await c.uid("fetch", "1", "(BODY.PEEK[])")
        assert resp.result == "OK" and any(b"for aioimaplib" in bytes(x) for x in resp.lines)
        resp = await c.uid("store", "1", "+FLAGS", "(\\Seen)")
        assert resp.result == "OK"
        resp = await c.append(SENT, mailbox="Sent", flags="(\\Seen)")
        assert resp.result == "OK"
        resp = await c.uid("move", "1", "Archive")
        assert resp.result == "OK"
        idle = await c.idle_start(timeout=10)
        local_send = asyncio.to_thread(local.send, "aio idle")
        await local_send
        pushed = await c.wait_server_push()
        c.idle_done()
        await asyncio.wait_for(idle, 10)
        assert any(b"EXISTS" in bytes(x) for x in pushed), pushed
        await c.logout()

    asyncio.run(main())
    assert mailbox_total(local, "Archive") == 1 and mailbox_total(local, "Sent") == 1


def _curl(local: Local, url: str, *args: str) -> str:
    cmd = [
        "curl", "--silent", "--show-error", "--max-time", "30",
        "--cacert", str(local.cert), "--resolve", f"localhost:{local.ports['imaps']}:{IP}",
        "--user", f"{local.user}:{local.password}", *args, url,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_curl(local: Local, tmp_path: Path) -> None:
    local.send("for curl")
    base = f"imaps://localhost:{local.ports['imaps']}"
    listing = _curl(local, base + "/")
    assert '"/" INBOX' in listing and "\\Sent" in listing
    body = _curl(local, base + "/INBOX/;UID=1")
    assert "Subject: for curl" in body
    assert "1" in _curl(local, base + "/INBOX?SUBJECT%20curl")
    _curl(local, base + "/INBOX", "--request", "UID STORE 1 +FLAGS (\\Flagged)")
    (tmp_path / "sent.eml").write_bytes(SENT)
    _curl(local, base + "/Sent", "--upload-file", str(tmp_path / "sent.eml"))
    _curl(local, base + "/INBOX", "--request", "UID MOVE 1 Archive")
    assert mailbox_total(local, "Archive") == 1 and mailbox_total(local, "Sent") == 1
    with local.account() as account:
        (msg,) = account.page("Archive", 0, 1000)
        assert "\\Flagged" in msg.flags


def test_mbsync(local: Local, tmp_path: Path, sessions: Sessions) -> None:
    local.send("for mbsync")
    rc, maildir = mbsync_config(
        local, tmp_path, "", "Patterns INBOX Sent Archive\nCreate Both\nExpunge Both\n"
    )

    mbsync(rc)
    (new,) = list((maildir / "INBOX" / "new").iterdir()) + list(
        (maildir / "INBOX" / "cur").iterdir()
    )
    assert b"Subject: for mbsync" in new.read_bytes()
    # Flag it seen and flagged locally, move it to Archive, put a message in Sent.
    (maildir / "Archive" / "cur").mkdir(parents=True, exist_ok=True)
    new.rename(maildir / "Archive" / "cur" / (new.name.split(":")[0].split(",U=")[0] + ":2,FS"))
    sent_new = maildir / "Sent" / "new"
    sent_new.mkdir(parents=True, exist_ok=True)
    (sent_new / "1700000000.1.laptop").write_bytes(SENT)
    mbsync(rc)
    assert mailbox_total(local, "INBOX") == 0
    assert mailbox_total(local, "Archive") == 1 and mailbox_total(local, "Sent") == 1
    with local.account() as account:
        (msg,) = account.page("Archive", 0, 1000)
        assert {"\\Seen", "\\Flagged"} <= msg.flags
    # mbsync turns on COMPRESS=DEFLATE (RFC 4978) in every session: all of
    # the above went through deflated streams.
    assert sessions.logins() >= 2 and sessions.compressed() == sessions.logins()


def test_getmail(local: Local, tmp_path: Path) -> None:
    """getmail6 retrieves (to a command: its Maildir delivery refuses to run as
    root), then deletes with move_on_delete: the message is copied to Archive and
    expunged from the Inbox."""
    local.send("for getmail")
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    rc = tmp_path / "getmailrc"
    rc.write_text(f"""
[retriever]
type = SimpleIMAPSSLRetriever
server = {IP}
port = {local.ports["imaps"]}
username = {local.user}
password = {local.password}
mailboxes = ("INBOX",)
ca_certs = {local.cert}
move_on_delete = Archive

[destination]
type = MDA_external
path = /bin/sh
arguments = ("-c", "cat > {maildir}/new/msg-$$")
allow_root_commands = true

[options]
read_all = true
delete = true
verbose = 0
""")
    out = subprocess.run(
        ["getmail", f"--getmaildir={tmp_path}", f"--rcfile={rc}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (got,) = list((maildir / "new").iterdir())
    assert b"Subject: for getmail" in got.read_bytes()
    assert mailbox_total(local, "INBOX") == 0 and mailbox_total(local, "Archive") == 1


def test_fetchmail(local: Local, tmp_path: Path) -> None:
    """fetchmail fetches over implicit TLS with the certificate checked, hands
    the message to an MDA and marks it seen (keep)."""
    local.send("for fetchmail")
    out_dir = tmp_path / "delivered"
    out_dir.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll {IP} service {local.ports['imaps']} protocol IMAP auth password\n"
        f'  user "{local.user}" password "{local.password}" is "{local.user}" here\n'
        f"  ssl sslcertck sslcertfile {local.cert} sslcommonname localhost keep\n"
        f"  folder INBOX\n"
        f"  mda \"/bin/sh -c 'cat > {out_dir}/msg-$$'\"\n"
    )
    rc.chmod(0o600)
    env = {"HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        ["fetchmail", "-f", str(rc), "--pidfile", str(tmp_path / "fetchmail.pid"),
         "--nodetach", "--nosyslog", "-v"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (got,) = list(out_dir.iterdir())
    assert b"Subject: for fetchmail" in got.read_bytes()
    with local.account() as account:
        (msg,) = account.page("Inbox", 0, 1000)
        assert "\\Seen" in msg.flags


def test_offlineimap(local: Local, tmp_path: Path) -> None:
    """offlineimap3 syncs both ways: a message flagged and moved locally and one
    put in the local Sent reach the server."""
    local.send("for offlineimap")
    maildir = tmp_path / "Mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(f"""
[general]
accounts = postel
metadata = {tmp_path}/offlineimap-meta

[Account postel]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {maildir}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {local.ports["imaps"]}
remoteuser = {local.user}
remotepass = {local.password}
ssl = yes
sslcacertfile = {local.cert}
folderfilter = lambda name: name in ["INBOX", "Sent", "Archive"]
""")

    def sync() -> None:
        out = subprocess.run(
            ["offlineimap", "-c", str(rc), "-o", "-u", "basic"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0 and "ERROR" not in out.stdout + out.stderr, (
            out.stdout + out.stderr
        )

    sync()
    inbox = maildir / "INBOX"
    (got,) = list((inbox / "new").iterdir()) + list((inbox / "cur").iterdir())
    assert b"Subject: for offlineimap" in got.read_bytes()
    name = got.name.split(":")[0]
    got.rename(inbox / "cur" / f"{name}:2,FS")  # flagged and seen
    sync()
    with local.account() as account:
        (msg,) = account.page("Inbox", 0, 1000)
        assert {"\\Seen", "\\Flagged"} <= msg.flags
    # Moved locally to Archive (a new file there, deleted from INBOX), and a
    # message put into the local Sent.
    moved = (inbox / "cur" / f"{name}:2,FS").read_bytes()
    (inbox / "cur" / f"{name}:2,FS").unlink()
    (maildir / "Archive" / "new" / "1700000000.2.laptop").write_bytes(moved)
    (maildir / "Sent" / "new" / "1700000000.1.laptop").write_bytes(SENT)
    sync()
    assert mailbox_total(local, "INBOX") == 0
    assert mailbox_total(local, "Archive") == 1 and mailbox_total(local, "Sent") == 1


def test_neomutt(local: Local, tmp_path: Path) -> None:
    """neomutt, driven by keys pushed at start (-e push) on a pseudo terminal
    (script(1)): flags the message and saves it to Archive, then writes a
    message (sent by submission) whose copy it appends to Sent (Fcc)."""
    local.send("for neomutt")
    imaps = f"imaps://{local.user}@localhost:{local.ports['imaps']}"
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\necho "body written by neomutt" >> "$1"\n')
    editor.chmod(0o755)
    rc = tmp_path / "neomuttrc"
    rc.write_text(f"""
set certificate_file = "{local.cert}"
set ssl_force_tls = yes
set imap_user = "{local.user}"
set imap_pass = "{local.password}"
set smtp_url = "smtps://{local.user}@localhost:{local.ports["submissions"]}"
set smtp_pass = "{local.password}"
set folder = "{imaps}/"
set spoolfile = "+INBOX"
set record = "+Sent"
set from = "{local.address}"
set editor = "{editor}"
set copy = yes
set confirmappend = no
set delete = yes
set header_cache = ""
set message_cachedir = ""
""")
    keys = (
        "<flag-message><save-message>=Archive<enter><sync-mailbox>"
        f"<mail>{local.address}<enter>from neomutt<enter><send-message><sync-mailbox><quit>"
    )
    command = f"neomutt -n -F {rc} -f {imaps}/INBOX -e 'push \"{keys}\"'"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TERM": "xterm"}
    out = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:]
    assert mailbox_total(local, "Sent") == 1, out.stdout[-2000:]
    deadline = time.monotonic() + 20
    while mailbox_total(local, "INBOX") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)  # the message neomutt sent, delivered locally
    assert mailbox_total(local, "INBOX") == 1
    with local.account() as account:
        (msg,) = account.page("Archive", 0, 1000)
        assert msg.subject == "for neomutt" and "\\Flagged" in msg.flags
