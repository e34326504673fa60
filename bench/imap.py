"""IMAP: postel and a private Dovecot, side by side, over TLS on loopback.

Both get the same N messages in the Inbox (postel through its store, Dovecot
as Maildir files it indexes on the warm-up SELECT) and the same commands
from one raw client (no client library parsing in the timings):

  LOGIN (not comparable: postel checks scrypt, Dovecot a plain password);
  SELECT; UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
  BODYSTRUCTURE); UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)];
  SEARCH TEXT; APPEND of 200 messages; UID STORE 1:* +FLAGS.SILENT (\\Seen).

Each cell runs --repeat times per server (alternating, after a warm-up); the
median is reported. Not yet measured: 100,000 messages, 1,000 IDLE
connections' memory (issue 17 item 6).

    python bench/imap.py [--messages 10000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import IP, Certs, PostelInstance, dns_stub, free_port, make_certs, tmpdir

USER = "bench"
PASSWORD = "bench imap password"
APPENDS = 200
MAIL_UID = MAIL_GID = 65534  # nobody / nogroup: Dovecot's mail user (not root)


def message(i: int) -> bytes:
    """A small message; every fifth one multipart with an attachment."""
    head = (
        f"From: Sender {i % 50} <sender{i % 50}@example.org>\r\n"
        f"To: {USER}@bench.test\r\nSubject: message number {i} about topic{i % 97}\r\n"
        f"Date: Mon, 7 Dec 2026 10:{i % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{i}.bench@example.org>\r\nMIME-Version: 1.0\r\n"
    )
    text = f"Hello,\r\nthis is message {i}, word{i % 1000}.\r\n" + "filler line of text\r\n" * 20
    if i % 5:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain\r\n\r\n" + text + "\r\n--b\r\n"
        'Content-Type: application/pdf; name="x.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + "JVBERi0xLjQK" * 40
        + "\r\n--b--\r\n"
    ).encode()


class Client:
    """Line-level IMAP over TLS; a command's time is until its tagged answer."""

    def __init__(self, port: int, ca: Path) -> None:
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.check_hostname = False
        sock = socket.create_connection((IP, port), timeout=600)
        self.sock = ctx.wrap_socket(sock)
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.n = 0

    def cmd(self, line: bytes, literal: bytes | None = None) -> list[bytes]:
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.sock.sendall(tag + b" " + line + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + line + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        out = []
        while True:
            data = self.file.readline()
            if not data:
                raise EOFError(line)
            out.append(data)
            if data.startswith(tag + b" "):
                if not data.startswith(tag + b" OK"):
                    raise RuntimeError(f"{line!r}: {data!r}")
                return out

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def cells(port: int, ca: Path, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    c = Client(port, ca)
    quoted = f'"{PASSWORD}"'.encode()
    # Not comparable: postel checks an scrypt hash, Dovecot here a plain password.
    out["LOGIN"] = timed(lambda: c.cmd(b"LOGIN " + USER.encode() + b" " + quoted))
    out["SELECT"] = timed(lambda: c.cmd(b"SELECT INBOX"))
    out["FETCH 1:* meta+ENVELOPE+BODYSTRUCTURE"] = timed(
        lambda: c.cmd(b"UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    )
    out["FETCH 1:* HEADER.FIELDS"] = timed(
        lambda: c.cmd(b"UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])")
    )
    out["SEARCH TEXT"] = timed(lambda: c.cmd(b"SEARCH TEXT word777"))
    data = message(n + 1)
    out[f"APPEND x{APPENDS} (per s)"] = APPENDS / timed(
        lambda: [c.cmd(b"APPEND Archive (\\Seen)", data) for _ in range(APPENDS)]
    )
    out["STORE 1:* +FLAGS.SILENT"] = timed(lambda: c.cmd(b"UID STORE 1:* +FLAGS.SILENT (\\Seen)"))
    c.cmd(b"UID STORE 1:* -FLAGS.SILENT (\\Seen)")
    c.cmd(b"LOGOUT")
    c.close()
    return out


# -- postel -------------------------------------------------------------------------


def postel_setup(root: Path, certs: Certs, dns_port: int, n: int) -> PostelInstance:
    from postel.config import load_config
    from postel.store import Store
    from postel.store.account import Delivery
    from postel.store.credentials import Credentials

    inst = PostelInstance(root, certs, dns_port)
    inst.write_config()
    imaps = free_port()
    toml = root / "postel.toml"
    toml.write_text(
        toml.read_text().replace(
            "submissions = { enabled = false }\n",
            f"submissions = {{ enabled = false }}\nimaps = {{ enabled = true, port = {imaps} }}\n",
        )
    )
    inst.env["BENCH_IMAPS_PORT"] = str(imaps)
    cfg = load_config(root)
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password(USER, PASSWORD)
    src = root / "msgs"
    src.mkdir()
    with Store(cfg.datadir) as store:
        acc = store.account(USER)
        batch = []
        for i in range(1, n + 1):
            p = src / str(i)
            p.write_bytes(message(i))
            batch.append(Delivery("Inbox", p))
            if len(batch) == 1000:
                acc.deliver_many(batch)
                batch = []
        if batch:
            acc.deliver_many(batch)
    return inst


# -- Dovecot -----------------------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {ip}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/home/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Archive {{
    auto = create
    special_use = \\Archive
  }}
}}
"""


def dovecot_start(root: Path, certs: Certs, n: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    for d in ("run", "state"):
        (root / d).mkdir(parents=True)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    conf = root / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            root=root,
            ip=IP,
            cert=certs.cert,
            key=certs.key,
            port=port,
            uid=MAIL_UID,
            gid=MAIL_GID,
        )
    )
    cur = root / "home" / USER / "Maildir" / "cur"
    cur.mkdir(parents=True)
    for sub in ("new", "tmp"):
        (cur.parent / sub).mkdir()
    now = int(time.time())
    for i in range(1, n + 1):
        (cur / f"{now}.{i}.bench:2,").write_bytes(message(i))
    for d in (root / "home", *(root / "home").rglob("*")):
        os.chown(d, MAIL_UID, MAIL_GID)  # Dovecot refuses to access mail as root
    proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection((IP, port), 0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.terminate()
        raise RuntimeError(f"dovecot did not start: {(root / 'dovecot.log').read_text()[-2000:]}")
    return proc, port


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    base = tmpdir("postel-bench-imap-")
    certs = make_certs(base / "certs")
    results: dict[str, dict[str, list[float]]] = {"postel": {}, "dovecot": {}}
    with dns_stub() as dns_port:
        inst = postel_setup(base / "postel", certs, dns_port, args.messages)
        inst.start()
        postel_port = int(inst.env["BENCH_IMAPS_PORT"])
        dovecot, dovecot_port = dovecot_start(base / "dovecot", certs, args.messages)
        try:
            ports = {"postel": postel_port, "dovecot": dovecot_port}
            for port in ports.values():  # warm-up: Dovecot indexes the Maildir
                cells(port, certs.ca, args.messages)
            for _ in range(args.repeat):
                for name, port in ports.items():
                    for cell, value in cells(port, certs.ca, args.messages).items():
                        results[name].setdefault(cell, []).append(value)
        finally:
            dovecot.terminate()
            dovecot.wait(20)
            inst.stop()
    print(f"{args.messages} messages, median of {args.repeat} (seconds unless per s)")
    print("| cell | postel | Dovecot | postel / Dovecot |\n|---|---|---|---|")
    for cell in results["postel"]:
        p = statistics.median(results["postel"][cell])
        d = statistics.median(results["dovecot"][cell])
        print(f"| {cell} | {p:.3f} | {d:.3f} | {p / d:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
