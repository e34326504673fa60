"""Nameservers from resolv.conf(5)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

log = logging.getLogger("postel.dns")

RESOLV_CONF = Path("/etc/resolv.conf")
# resolv.conf(5): with no nameserver line, the local machine is queried.
DEFAULT_NAMESERVERS = ["127.0.0.1"]


def parse_resolv_conf(text: str, source: str = "resolv.conf") -> list[str]:
    """The ``nameserver`` addresses in order; invalid lines are logged and skipped."""
    servers: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        addr = fields[1]
        try:
            ipaddress.ip_address(addr.split("%", 1)[0])
        except ValueError:
            log.warning(
                "ignoring invalid nameserver address",
                extra={"file": source, "line": lineno, "address": addr},
            )
            continue
        servers.append(addr)
    return servers


def system_nameservers(path: Path = RESOLV_CONF) -> list[str]:
    """Nameservers of the system, or 127.0.0.1 when there are none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        log.warning(
            "cannot read resolver configuration", extra={"file": str(path), "error": str(e)}
        )
        return list(DEFAULT_NAMESERVERS)
    return parse_resolv_conf(text, str(path)) or list(DEFAULT_NAMESERVERS)
