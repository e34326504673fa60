"""A running postel (`postel serve` in a thread) with localserve's configuration
on 127.0.0.1, every port chosen by the kernel, for the IMAP client tests."""

from __future__ import annotations

import re
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from serverthread import serving
from storagebackend import Backend

from postel.config import Config, load_config
from postel.imapserver.storeapi import MailStore
from postel.localserve import ADDRESS, PASSWORD, ensure_local_config

IP = "127.0.0.1"


@dataclass
class Local:
    cfg: Config
    ports: dict[str, int]
    cert: Path  # the self-signed certificate the server presents

    backend: Backend
    user: str = "you"
    password: str = PASSWORD
    address: str = ADDRESS

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.cert))
        ctx.check_hostname = False  # the certificate names localhost, we connect to 127.0.0.1
        return ctx

    def account(self) -> AbstractContextManager[MailStore]:
        """The account as IMAP sees it, opened beside the running server (as
        another writer would: the webmail, a second node)."""
        return self.backend.mailstore(self.cfg.dir, self.user)

    def send(self, subject: str, to: str = ADDRESS) -> None:
        """A message to *to* through submission (implicit TLS, AUTH PLAIN)."""
        body = (
            f"From: {ADDRESS}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@postel.localhost>\r\n\r\n"
            f"body of {subject}\r\n"
        )
        with smtplib.SMTP_SSL(
            IP, self.ports["submissions"], context=self.client_context(), timeout=20
        ) as c:
            c.login(self.user, self.password)
            c.sendmail(ADDRESS, [to], body.encode())


def local_config(base: Path, extra: str = "", backend: Backend | None = None) -> Config:
    """localserve's configuration; *extra*: TOML tables appended to postel.toml;
    *backend*: the storage backend (default SQLite)."""
    info = ensure_local_config(base, IP)
    toml = info.config_dir / "postel.toml"
    text = re.sub(r"port = \d+ \}", "port = 0 }", toml.read_text())
    text = re.sub(r"(?m)^web = .*$", "", text)
    toml.write_text(text + extra)
    if backend is not None:
        backend.configure(info.config_dir, {"you": PASSWORD})
    return load_config(info.config_dir)


def serve_local(base: Path, extra: str = "", backend: Backend | None = None) -> Iterator[Local]:
    cfg = local_config(base, extra, backend)
    with serving(cfg) as running:
        ports = {kind: port for _ip, port, kind in running.bound}
        yield Local(cfg, ports, cfg.dir / "certs/localhost.crt", backend or Backend("sqlite"))


def mbsync_config(local: Local, base: Path, remote: str, channel: str) -> tuple[Path, Path]:
    """An mbsyncrc (under *base*) syncing *local*'s account over IMAPS into a
    new maildir *base*/Mail; *remote* and *channel*: extra lines of the IMAP
    store and of the channel. Returns (rc, maildir)."""
    maildir = base / "Mail"
    maildir.mkdir()
    rc = base / "mbsyncrc"
    rc.write_text(f"""
IMAPAccount postel
Host {IP}
Port {local.ports["imaps"]}
User {local.user}
Pass {local.password}
SSLType IMAPS
CertificateFile {local.cert}
AuthMechs PLAIN

IMAPStore remote
Account postel
{remote}
MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel postel
Far :remote:
Near :local:
{channel}SyncState *
""")
    return rc, maildir


def mbsync(rc: Path) -> None:
    """Run every channel of *rc* once; it must succeed."""
    out = subprocess.run(
        ["mbsync", "-c", str(rc), "-a"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
