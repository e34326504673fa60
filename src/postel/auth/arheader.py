"""Formatting of the Authentication-Results header field (RFC 8601 §2.2)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postel.auth.results import AuthResults

# RFC 2045 token: printable ASCII except tspecials and space.
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$")
# RFC 8601 §2.2 pvalue may also be [local-part "@"] domain-name.
_PVALUE = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~@]+$")


def _quote(value: str) -> str:
    """An RFC 2045 quoted-string, control characters replaced."""
    clean = "".join(c if c.isprintable() else " " for c in value)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pvalue(value: str) -> str:
    return value if _PVALUE.match(value) else _quote(value)


def _reason(reason: str) -> str:
    return f" reason={_quote(reason)}" if reason else ""


def format_header(results: AuthResults, hostname: str, *, fold: bool = True) -> str:
    """``Authentication-Results: <authserv-id>; spf=...; dkim=...; dmarc=...``."""
    parts: list[str] = []
    spf = results.spf
    ptype = "smtp.helo" if spf.identity == "helo" else "smtp.mailfrom"
    spf_text = f"spf={spf.result}"
    if spf.domain:
        spf_text += f" {ptype}={_pvalue(spf.domain)}"
    parts.append(spf_text)
    if not results.dkim:
        parts.append("dkim=none")
    for d in results.dkim:
        text = f"dkim={d.result}"
        if d.result != "pass":
            text += _reason(d.reason)
        if d.domain:
            text += f" header.d={_pvalue(d.domain)}"
        if d.selector:
            text += f" header.s={_pvalue(d.selector)}"
        if d.algorithm and _TOKEN.match(d.algorithm):
            text += f" header.a={d.algorithm}"
        parts.append(text)
    dm = results.dmarc
    dm_text = f"dmarc={dm.result}"
    if dm.result == "fail":
        dm_text += f" (p={dm.policy})"
    if dm.from_domain:
        dm_text += f" header.from={_pvalue(dm.from_domain)}"
    parts.append(dm_text)
    sep = ";\r\n\t" if fold else "; "
    return f"Authentication-Results: {hostname}" + sep + sep.join(parts)
