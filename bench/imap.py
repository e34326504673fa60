"""IMAP: postel and a private Dovecot, side by side, over TLS on loopback.

Both get the same N messages in the Inbox (postel through its store, Dovecot
as Maildir files it indexes on the warm-up SELECT) and the same commands
from one raw client (no client library parsing in the timings):

  LOGIN (not comparable: postel checks scrypt, Dovecot a plain password);
  SELECT; UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
  BODYSTRUCTURE); UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)];
  SEARCH TEXT; APPEND of 200 messages; UID STORE 1:* +FLAGS.SILENT (\\Seen).

Each cell runs --repeat times per server (alternating, after a warm-up); the
median is reported. --baseline SRC adds a second postel, run from another
source tree (an earlier commit, say) and filled by that tree's code, as a
third column: before and after in the same run. --cells limits the cells (by
name prefix), for the 100,000-message run.

--idle N measures instead: N connections that LOGIN, SELECT and IDLE; the
memory they add to each server (PSS of all its processes); then one message
delivered (to postel by SMTP, to Dovecot into its Maildir's new/, which it
watches with inotify) and the time until every connection has seen EXISTS.

    python bench/imap.py [--messages 10000] [--repeat 3] [--json out.json]
                         [--baseline /path/to/other/tree] [--cells SELECT,FETCH]
    python bench/imap.py --idle 1000 [--messages 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import smtplib
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import (
    IP,
    Certs,
    PostelInstance,
    descendants,
    dns_stub,
    free_port,
    make_certs,
    memory_kib,
    tmpdir,
)

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


def cells(port: int, ca: Path, n: int, only: tuple[str, ...] = ()) -> dict[str, float]:
    out: dict[str, float] = {}
    c = Client(port, ca)

    def cell(name: str, fn: Callable[[], object]) -> None:
        if not only or name.startswith(only):
            out[name] = timed(fn)

    quoted = f'"{PASSWORD}"'.encode()
    # Not comparable: postel checks an scrypt hash, Dovecot here a plain password.
    out["LOGIN"] = timed(lambda: c.cmd(b"LOGIN " + USER.encode() + b" " + quoted))
    out["SELECT"] = timed(lambda: c.cmd(b"SELECT INBOX"))
    cell(
        "FETCH 1:* meta+ENVELOPE+BODYSTRUCTURE",
        lambda: c.cmd(b"UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"),
    )
    cell(
        "FETCH 1:* HEADER.FIELDS",
        lambda: c.cmd(b"UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"),
    )
    cell("SEARCH TEXT", lambda: c.cmd(b"SEARCH TEXT word777"))
    data = message(n + 1)
    if not only or "APPEND".startswith(only):
        out[f"APPEND x{APPENDS} (per s)"] = APPENDS / timed(
            lambda: [c.cmd(b"APPEND Archive (\\Seen)", data) for _ in range(APPENDS)]
        )
    if not only or "STORE".startswith(only):
        out["STORE 1:* +FLAGS.SILENT"] = timed(
            lambda: c.cmd(b"UID STORE 1:* +FLAGS.SILENT (\\Seen)")
        )
        c.cmd(b"UID STORE 1:* -FLAGS.SILENT (\\Seen)")
    c.cmd(b"LOGOUT")
    c.close()
    return out


# -- postel -------------------------------------------------------------------------


IMAP_LIMITS = """
[imap]
max_connections = {n}
max_connections_per_ip = {n}
max_connections_per_account = {n}

[login_limit]  # logins being checked count as failed until they succeed
free_per_client_account = {n}
free_per_client = {n}
free_per_account = {n}
"""


def postel_setup(
    root: Path, certs: Certs, dns_port: int, n: int, src: Path | None = None
) -> PostelInstance:
    """A postel (from the source tree *src*, else this one) with *n* messages."""
    inst = PostelInstance(root, certs, dns_port)
    inst.write_config()
    imaps = free_port()
    toml = root / "postel.toml"
    toml.write_text(
        toml.read_text().replace(
            "submissions = { enabled = false }\n",
            f"submissions = {{ enabled = false }}\nimaps = {{ enabled = true, port = {imaps} }}\n",
        )
        + IMAP_LIMITS.format(n=2000)
    )
    inst.env["BENCH_IMAPS_PORT"] = str(imaps)
    if src is None:
        fill(root, n)
    else:  # that tree's code writes its own index
        inst.env["PYTHONPATH"] = str(src)
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{Path(__file__).parent}"}
        subprocess.run([sys.executable, __file__, "--fill", str(root), str(n)], env=env, check=True)
    return inst


DELIVERED = 10_000  # more messages than this are copies of the first ones


def fill(root: Path, n: int) -> None:
    """The account with its password and *n* messages in the Inbox, delivered
    through the store as SMTP delivery does; beyond DELIVERED, copies."""
    from postel.config import load_config
    from postel.store import Store
    from postel.store.account import Delivery
    from postel.store.credentials import Credentials

    cfg = load_config(root)
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password(USER, PASSWORD)
    src = root / "msgs"
    src.mkdir()
    with Store(cfg.datadir) as store:
        acc = store.account(USER)
        index = acc.dir / "index.db"
        batch = []
        for i in range(1, min(n, DELIVERED) + 1):
            p = src / str(i)
            p.write_bytes(message(i))
            batch.append(Delivery("Inbox", p))
            if len(batch) == 1000:
                acc.deliver_many(batch)
                for d in batch:
                    Path(d.source).unlink()
                batch = []
        if batch:
            acc.deliver_many(batch)
    if n > DELIVERED:
        copy_messages(index, n // DELIVERED)


def copy_messages(index: Path, times: int) -> None:
    """Make the Inbox *times* as large: its index rows copied with new ids and
    UIDs (the full-text index left out: no SEARCH on copies), each file
    hard-linked (message files never change). Delivering 100,000 messages
    takes tens of minutes on the shared machine; this takes seconds."""
    conn = sqlite3.connect(index)
    last_id, last_uid = conn.execute("SELECT max(id), max(uid) FROM message").fetchone()
    cols = [r[1] for r in conn.execute("PRAGMA table_info(message)") if r[1] not in ("id", "uid")]
    mime = [r[1] for r in conn.execute("PRAGMA table_info(message_mime)") if r[1] != "id"]
    names, mimes = ", ".join(cols), ", ".join(mime)
    with conn:
        for k in range(1, times):
            conn.execute(
                f"INSERT INTO message (id, uid, {names}) SELECT id + ?, uid + ?, {names} "
                "FROM message WHERE id <= ?",
                (k * last_id, k * last_uid, last_id),
            )
            conn.execute(
                f"INSERT INTO message_mime (id, {mimes}) SELECT id + ?, {mimes} "
                "FROM message_mime WHERE id <= ?",
                (k * last_id, last_id),
            )
        conn.execute(
            "UPDATE mailbox SET total = (SELECT count(*) FROM message), "
            "unseen = (SELECT count(*) FROM message), size = (SELECT sum(size) FROM message), "
            "uidnext = (SELECT max(uid) + 1 FROM message) WHERE name = 'Inbox'"
        )
        conn.execute(
            "UPDATE sqlite_sequence SET seq = (SELECT max(id) FROM message) WHERE name = 'message'"
        )
    conn.close()
    msg = index.parent / "msg"
    for k in range(1, times):
        for i in range(1, last_id + 1):
            new = i + k * last_id
            bucket = msg / str(new // 1000)
            bucket.mkdir(exist_ok=True)
            os.link(msg / str(i // 1000) / str(i), bucket / str(new))


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
mail_max_userip_connections = 5000
default_process_limit = 1500
default_client_limit = 5000
default_vsz_limit = 0
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
    for i in range(1, n + 1):  # the same messages as postel's
        (cur / f"{now}.{i}.bench:2,").write_bytes(message((i - 1) % DELIVERED + 1))
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


# -- 1,000 IDLE connections -------------------------------------------------------


async def _idler(
    port: int, ctx: ssl.SSLContext, gate: asyncio.Semaphore
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with gate:  # a few logins at once (postel's are scrypt)
        reader, writer = await asyncio.open_connection(IP, port, ssl=ctx)
        await reader.readline()
        quoted = f'"{PASSWORD}"'.encode()
        for line in (b"a LOGIN " + USER.encode() + b" " + quoted, b"b SELECT INBOX"):
            writer.write(line + b"\r\n")
            tag = line[:2]
            while not (data := await reader.readline()).startswith(tag):
                if not data:
                    raise EOFError(line)
            if not data.startswith(tag + b"OK"):
                raise RuntimeError(data)
        writer.write(b"c IDLE\r\n")
        if not (await reader.readline()).startswith(b"+"):
            raise RuntimeError("IDLE refused")
        return reader, writer


async def _exists(reader: asyncio.StreamReader) -> float:
    while data := await reader.readline():
        if data.endswith(b" EXISTS\r\n"):
            return time.perf_counter()
    raise EOFError("connection closed during IDLE")


async def idle_cell(
    port: int, ca: Path, n: int, pids: Callable[[], list[int]], deliver: Callable[[], None]
) -> dict[str, float]:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    before = memory_kib(pids())[1]
    gate = asyncio.Semaphore(8)
    started = time.perf_counter()
    conns = await asyncio.gather(*(_idler(port, ctx, gate) for _ in range(n)))
    setup = time.perf_counter() - started
    await asyncio.sleep(2)
    after = memory_kib(pids())[1]
    waits = [asyncio.create_task(_exists(r)) for r, _ in conns]
    sent = time.perf_counter()
    await asyncio.to_thread(deliver)
    seen = await asyncio.wait_for(asyncio.gather(*waits), 120)
    for _, w in conns:
        w.close()
    return {
        "connections": n,
        "setup (s)": setup,
        "memory added (MiB, PSS)": (after - before) / 1024,
        "memory per connection (KiB)": (after - before) / n,
        "delivery to the first EXISTS (s)": min(seen) - sent,
        "delivery to the last EXISTS (s)": max(seen) - sent,
    }


def smtp_deliver(port: int, n: int) -> None:
    with smtplib.SMTP(IP, port, timeout=30) as s:
        s.sendmail("someone@example.org", [f"rcpt@{USER}.test"], message(n + 1))


def maildir_deliver(root: Path, n: int) -> None:
    maildir = root / "home" / USER / "Maildir"
    name = f"{int(time.time())}.idle.bench"
    tmp = maildir / "tmp" / name
    tmp.write_bytes(message(n + 1))
    os.chown(tmp, MAIL_UID, MAIL_GID)
    tmp.rename(maildir / "new" / name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path, help="another postel source tree, side by side")
    ap.add_argument("--cells", default="", help="comma-separated cell name prefixes")
    ap.add_argument("--idle", type=int, default=0, help="the IDLE cell with this many clients")
    ap.add_argument("--fill", nargs=2, help=argparse.SUPPRESS)  # ROOT N, for --baseline
    args = ap.parse_args()
    if args.fill:
        fill(Path(args.fill[0]), int(args.fill[1]))
        return
    only = tuple(c.strip() for c in args.cells.split(",") if c.strip())
    base = tmpdir("postel-bench-imap-")
    certs = make_certs(base / "certs")
    results: dict[str, dict[str, list[float]]] = {}
    idle: dict[str, dict[str, float]] = {}
    with dns_stub() as dns_port:
        started = time.perf_counter()
        inst = postel_setup(base / "postel", certs, dns_port, args.messages)
        print(f"postel filled in {time.perf_counter() - started:.0f} s", flush=True)
        insts = {"postel": inst}
        if args.baseline is not None:
            started = time.perf_counter()
            insts["postel baseline"] = postel_setup(
                base / "baseline", certs, dns_port, args.messages, args.baseline / "src"
            )
            print(f"baseline filled in {time.perf_counter() - started:.0f} s", flush=True)
        for i in insts.values():
            i.start()
        ports = {name: int(i.env["BENCH_IMAPS_PORT"]) for name, i in insts.items()}
        started = time.perf_counter()
        dovecot, dovecot_port = dovecot_start(base / "dovecot", certs, args.messages)
        ports["dovecot"] = dovecot_port
        try:
            for port in ports.values():  # warm-up: Dovecot indexes the Maildir
                cells(port, certs.ca, args.messages, only)
            print(f"warm-up done {time.perf_counter() - started:.0f} s", flush=True)
            if args.idle:
                idle["postel"] = asyncio.run(
                    idle_cell(
                        ports["postel"],
                        certs.ca,
                        args.idle,
                        inst.pids,
                        lambda: smtp_deliver(inst.port, args.messages),
                    )
                )
                idle["dovecot"] = asyncio.run(
                    idle_cell(
                        dovecot_port,
                        certs.ca,
                        args.idle,
                        lambda: [dovecot.pid, *descendants(dovecot.pid)],
                        lambda: maildir_deliver(base / "dovecot", args.messages),
                    )
                )
            else:
                for _ in range(args.repeat):
                    for name, port in ports.items():
                        for cell, value in cells(port, certs.ca, args.messages, only).items():
                            results.setdefault(name, {}).setdefault(cell, []).append(value)
        finally:
            dovecot.terminate()
            dovecot.wait(20)
            for i in insts.values():
                i.stop()
    print(f"load average {os.getloadavg()}")
    if idle:
        print(f"{args.idle} IDLE connections\n| | postel | Dovecot |\n|---|---|---|")
        for key in idle["postel"]:
            print(f"| {key} | {idle['postel'][key]:.3f} | {idle['dovecot'][key]:.3f} |")
    else:
        names = list(results)
        print(f"{args.messages} messages, median of {args.repeat} (seconds unless per s)")
        print("| cell | " + " | ".join(names) + " | postel / Dovecot |")
        print("|---" * (len(names) + 2) + "|")
        for cell in results["postel"]:
            m = {name: statistics.median(results[name][cell]) for name in names}
            row = " | ".join(f"{m[name]:.3f}" for name in names)
            print(f"| {cell} | {row} | {m['postel'] / m['dovecot']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"cells": results, "idle": idle}, indent=1))


if __name__ == "__main__":
    main()
