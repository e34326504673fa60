"""Run Postfix from its own config, queue and data directories under a temp dir.

Postfix normally logs to syslog, which this machine lacks: main.cf sets
``maillog_file`` and master.cf runs the ``postlog`` service, so every
Postfix message lands in ``<root>/maillog``.
No chroot; one smtpd on ``ip:port`` both takes messages to send and, after
``receive_into_maildir``, accepts mail for given domains into a Maildir.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

# Queue directories holding messages not yet delivered or bounced.
_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

_MASTER_CF = """\
{ip}:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

TLS_LEVELS = ("none", "may", "encrypt", "verify", "secure")


class PostfixError(RuntimeError):
    pass


class PostfixPeer:
    """A Postfix instance listening on ``ip:port`` (smtpd) and sending from ``ip``.

    ``configure`` (re)writes the whole configuration and reloads; the instance is
    started by the first ``configure`` and stopped by ``stop``.
    """

    def __init__(
        self,
        ip: str,
        *,
        port: int = 25,
        hostname: str = "postfix.peer.test",
        ca_file: Path | None = None,
        root: Path | None = None,
    ) -> None:
        for prog in ("postfix", "postconf", "postsuper"):
            if shutil.which(prog) is None and not Path("/usr/sbin", prog).exists():
                raise PostfixError(f"{prog} not found: install Debian's postfix package")
        self.ip = ip
        self.port = port
        self.hostname = hostname
        self.ca_file = ca_file
        # Not under pytest's 0700 tmp dir: Postfix daemons run as user postfix.
        self.root = root or Path(tempfile.mkdtemp(prefix="postel-postfix-"))
        self.root.chmod(0o755)
        self.etc = self.root / "etc"
        self.queue = self.root / "queue"
        self.data = self.root / "data"
        self.maildir_base = self.root / "mail"
        self.maillog = self.root / "maillog"
        self.running = False
        self._settings: dict[str, str] = {}
        self._receive_domains: list[str] = []
        self._smtpd_tls: tuple[Path, Path] | None = None
        pw = pwd.getpwnam("postfix")
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
        grp.getgrnam("postdrop")  # the package's group must exist
        for d in (self.etc, self.queue):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.data, self.maildir_base):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, self._uid, self._gid)
        self.maillog.touch()

    # -- configuration ----------------------------------------------------------

    def configure(
        self,
        relay_to: tuple[str, int] | None = None,
        tls: str = "may",
        *,
        tls_match: str | None = None,
        domains: list[str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        """Send all mail (or only mail for *domains*) to ``relay_to`` (ip, port).

        *tls* is the smtp client's security level: none, may, encrypt, verify or
        secure; verify/secure check the peer certificate against ``ca_file`` and the
        name *tls_match* (needed since the next hop is an IP literal).
        """
        if tls not in TLS_LEVELS:
            raise PostfixError(f"tls {tls!r}: expected one of {', '.join(TLS_LEVELS)}")
        if tls in ("verify", "secure") and not tls_match:
            raise PostfixError(f"tls={tls} needs tls_match (the certificate name to expect)")
        s: dict[str, str] = {
            "smtp_tls_security_level": tls,
            "smtp_tls_loglevel": "1",
        }
        if self.ca_file is not None:
            s["smtp_tls_CAfile"] = str(self.ca_file)
        transport = []
        if relay_to is not None:
            nexthop = f"[{relay_to[0]}]:{relay_to[1]}"
            if domains:
                transport = [f"{d} smtp:{nexthop}" for d in domains]
            else:
                s["relayhost"] = nexthop
            if tls in ("verify", "secure"):
                (self.etc / "tls_policy").write_text(f"{nexthop} {tls} match={tls_match}\n")
                s["smtp_tls_policy_maps"] = f"texthash:{self.etc / 'tls_policy'}"
        (self.etc / "transport").write_text("".join(t + "\n" for t in transport))
        s.update(extra or {})
        self._settings = s
        self._write()
        self.clear_queue()
        if self.running:
            self._run("postfix", "-c", str(self.etc), "reload")
        else:
            self.start()

    def receive_into_maildir(
        self, domains: list[str], *, cert_file: Path | None = None, key_file: Path | None = None
    ) -> Path:
        """Accept mail for *domains* on the smtpd (STARTTLS when a certificate is given)
        and deliver it into Maildirs ``<base>/<domain>/`` (all local parts). Returns base."""
        self._receive_domains = list(domains)
        self._smtpd_tls = (cert_file, key_file) if cert_file and key_file else None
        self._write()
        if self.running:
            self._run("postfix", "-c", str(self.etc), "reload")
        else:
            self.start()
        return self.maildir_base

    def maildir_messages(self, domain: str) -> list[bytes]:
        """Messages delivered into the Maildir of *domain* (new/ and cur/), oldest first."""
        box = self.maildir_base / domain
        files = [p for sub in ("new", "cur") for p in (box / sub).glob("*") if p.is_file()]
        return [p.read_bytes() for p in sorted(files, key=lambda p: p.stat().st_mtime)]

    def _main_cf(self) -> str:
        s: dict[str, str] = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "meta_directory": "/etc/postfix",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.root),
            "myhostname": self.hostname,
            "mydomain": self.hostname.partition(".")[2] or "test",
            "mydestination": "",
            # Postfix refuses inet_interfaces that are not interface addresses;
            # 127.a.b.c is not one on Linux, so bind via master.cf and smtp_bind_address.
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "smtp_bind_address": self.ip,
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, permit_auth_destination, reject",
            "transport_maps": f"texthash:{self.etc / 'transport'}",
            "smtp_dns_support_level": "disabled",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "smtputf8_enable": "yes",
            "delay_warning_time": "0",
            "maximal_backoff_time": "10s",
            "minimal_backoff_time": "2s",
            "queue_run_delay": "2s",
            "smtp_connect_timeout": "5s",
            "smtpd_tls_security_level": "none",
        }
        if self._receive_domains:
            maps = self.etc / "vmailbox"
            maps.write_text("".join(f"@{d} {d}/\n" for d in self._receive_domains))
            s.update(
                {
                    "virtual_mailbox_domains": " ".join(self._receive_domains),
                    "virtual_mailbox_base": str(self.maildir_base),
                    "virtual_mailbox_maps": f"texthash:{maps}",
                    "virtual_uid_maps": f"static:{self._uid}",
                    "virtual_gid_maps": f"static:{self._gid}",
                }
            )
        if self._smtpd_tls is not None:
            s.update(
                {
                    "smtpd_tls_security_level": "may",
                    "smtpd_tls_cert_file": str(self._smtpd_tls[0]),
                    "smtpd_tls_key_file": str(self._smtpd_tls[1]),
                    "smtpd_tls_received_header": "yes",
                    "smtpd_tls_loglevel": "1",
                }
            )
        s.update(self._settings)
        return "".join(f"{k} = {v}\n" for k, v in s.items())

    def _write(self) -> None:
        (self.etc / "main.cf").write_text(self._main_cf())
        (self.etc / "master.cf").write_text(_MASTER_CF.format(ip=self.ip, port=self.port))
        if not (self.etc / "transport").exists():
            (self.etc / "transport").write_text("")

    # -- running ----------------------------------------------------------------

    def _run(self, *argv: str, timeout: float = 30.0) -> str:
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            raise PostfixError(f"{' '.join(argv)}: no result after {timeout}s") from e
        if done.returncode != 0:
            raise PostfixError(
                f"{' '.join(argv)} exited {done.returncode}: {done.stdout.strip()} "
                f"{done.stderr.strip()}\nmaillog:\n{self.log_tail()}"
            )
        return done.stdout

    def start(self, timeout: float = 20.0) -> None:
        self._write()
        self._run("postfix", "-c", str(self.etc), "start")
        self.running = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with smtplib.SMTP(self.ip, self.port, timeout=2) as s:
                    s.noop()
                return
            time.sleep(0.1)
        raise PostfixError(f"smtpd on {self.ip}:{self.port} not up after {timeout}s\n"
                           f"{self.log_tail()}")  # fmt: skip

    def stop(self) -> None:
        if self.running:
            self.running = False
            try:
                self._run("postfix", "-c", str(self.etc), "stop")
            except PostfixError:
                with contextlib.suppress(PostfixError):
                    self._run("postfix", "-c", str(self.etc), "abort")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- mail -------------------------------------------------------------------

    def send(self, mail_from: str, rcpts: str | list[str], message: bytes) -> None:
        """Hand a message to this Postfix's smtpd (plain SMTP over loopback)."""
        to = [rcpts] if isinstance(rcpts, str) else list(rcpts)
        with smtplib.SMTP(self.ip, self.port, local_hostname="client.test", timeout=30) as s:
            refused = s.sendmail(mail_from, to, message)
        if refused:
            raise PostfixError(f"recipients refused: {refused}")

    def queue_ids(self) -> list[str]:
        ids: list[str] = []
        for q in _QUEUES:
            d = self.queue / q
            if d.is_dir():
                ids += [p.name for p in d.rglob("*") if p.is_file()]
        return ids

    def clear_queue(self) -> None:
        if self.queue_ids():
            self._run("postsuper", "-c", str(self.etc), "-d", "ALL")

    def flush(self) -> None:
        """Retry deferred mail now."""
        self._run("postqueue", "-c", str(self.etc), "-f")

    def wait_until_queue_empty(self, timeout: float = 30.0) -> None:
        """Wait until every queued message has been delivered or bounced."""
        deadline = time.monotonic() + timeout
        flushed = False
        while time.monotonic() < deadline:
            ids = self.queue_ids()
            if not ids:
                return
            if (
                not flushed
                and (self.queue / "deferred").is_dir()
                and any(p.is_file() for p in (self.queue / "deferred").rglob("*"))
            ):
                with contextlib.suppress(PostfixError):
                    self.flush()
                flushed = True
            time.sleep(0.1)
        raise PostfixError(
            f"queue not empty after {timeout}s: {self.queue_ids()}\n{self.log_tail(40)}"
        )

    def log_text(self, since: int = 0) -> str:
        """The maillog from byte offset *since* (see ``log_mark``)."""
        try:
            with self.maillog.open("rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_mark(self) -> int:
        try:
            return self.maillog.stat().st_size
        except OSError:
            return 0

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
