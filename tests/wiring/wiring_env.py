"""An instance with every listener kind on loopback port 0, and a count of the
SQLite connections it opens, per database file."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loopbackports import closed_udp_port, free_tcp_port
from postel.hostkeys import write_key_and_cert

DOMAINS = """
[domains."example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]
"""


def write_config(d: Path) -> Path:
    d.mkdir(parents=True)
    write_key_and_cert(d / "certs/mail.key", d / "certs/mail.crt", ["mail.example.org"])
    web = f"port = {free_tcp_port()}, tls = false, admin = true, webmail = true, mtasts = true"
    (d / "postel.toml").write_text(
        f"""
hostname = "mail.example.org"
postmaster_account = "alice"

[server]
user = ""

[dns]
nameservers = ["127.0.0.1"]
port = {closed_udp_port()}
timeout = 1

[listeners.local]
ips = ["127.0.0.1"]
internal = true
tls_cert_file = "certs/mail.crt"
tls_key_file = "certs/mail.key"
smtp = {{ port = 0 }}
submission = {{ port = 0 }}
submissions = {{ enabled = false }}
imap = {{ enabled = true, port = 0 }}
imaps = {{ enabled = false }}
web = {{ enabled = true, {web} }}
"""
    )
    (d / "domains.toml").write_text(DOMAINS)
    return d


@contextmanager
def counting_connections() -> Iterator[Counter[str]]:
    """Every sqlite3.connect while the block runs, by database file name
    relative to the data directory's parent (in-memory ones left out)."""
    opened: Counter[str] = Counter()
    real = sqlite3.connect

    def connect(database: Any, *args: Any, **kw: Any) -> sqlite3.Connection:
        name = str(database)
        if name.startswith("file:"):
            name = name[len("file:") :].split("?", 1)[0]
        if name != ":memory:":
            opened[name] += 1
        return real(database, *args, **kw)

    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        yield opened
    finally:
        sqlite3.connect = real
