"""rspamd's HTTP protocol, the pure part (docs/junk.md, rspamd's "protocol"
page): the URL of its normal worker, the request's header fields that carry
the envelope, and the JSON answer of ``POST /checkv2``."""

from __future__ import annotations

import ipaddress
import json
import math
import urllib.parse
from dataclasses import dataclass

from postel.junk.errors import RspamdError

# The actions rspamd answers with (its "actions" configuration).
ACTIONS = ("no action", "greylist", "add header", "rewrite subject", "soft reject", "reject")
CHECK_PATH = "/checkv2"
MAX_SYMBOLS = 10  # symbol names kept in the header field, highest scores first


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int

    @property
    def hostport(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def parse_url(url: str) -> Endpoint:
    """``http://<IP literal>[:port][/]``: rspamd is asked over plain HTTP, so
    only at an address given as such (no name to resolve, no TLS); the port
    defaults to 11333, the normal worker's."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise RspamdError(f"not a URL ({e})", where=url) from None
    if parts.scheme.lower() != "http":
        raise RspamdError("must be an http:// URL", where=url)
    if parts.username is not None or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise RspamdError("must be http://<IP address>:<port> with nothing after it", where=url)
    try:
        ip = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        raise RspamdError("the host must be an IP address", where=url) from None
    return Endpoint(str(ip), 11333 if port is None else port)


@dataclass(frozen=True)
class Envelope:
    """What the SMTP session knows about a message, for rspamd's checks."""

    ip: str | None = None
    helo: str = ""
    hostname: str | None = None  # the client's name by reverse DNS, when confirmed
    mail_from: str = ""
    rcpts: tuple[str, ...] = ()
    user: str | None = None  # the authenticated account
    queue_id: str = ""
    mta_name: str = ""


def _field(value: str) -> str:
    """A header field value with no control characters (the values come from
    the SMTP client)."""
    return "".join(c if c.isprintable() else " " for c in value)[:1000]


def request_fields(env: Envelope) -> list[tuple[str, str]]:
    """The envelope as rspamd's request header fields."""
    out: list[tuple[str, str]] = []
    if env.ip:
        out.append(("IP", env.ip))
    if env.helo:
        out.append(("Helo", env.helo))
    if env.hostname:
        out.append(("Hostname", env.hostname))
    # An empty reverse path (bounces, RFC 5321 §4.5.5) is sent as "<>".
    out.append(("From", env.mail_from or "<>"))
    out.extend(("Rcpt", r) for r in env.rcpts)
    if env.user:
        out.append(("User", env.user))
    if env.queue_id:
        out.append(("Queue-Id", env.queue_id))
    if env.mta_name:
        out.append(("MTA-Name", env.mta_name))
    return [(k, _field(v)) for k, v in out]


@dataclass(frozen=True)
class Answer:
    action: str  # one of ACTIONS
    score: float
    required: float | None  # the score of its reject action
    symbols: tuple[str, ...] = ()  # the rules that matched, highest scores first


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_answer(body: bytes, where: str) -> Answer:
    """The verdict in rspamd's JSON answer to /checkv2."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise RspamdError(f"answer is not JSON ({e})", where=where) from None
    if not isinstance(doc, dict):
        raise RspamdError("answer is not a JSON object", where=where)
    if "error" in doc and "action" not in doc:
        raise RspamdError(f"rspamd says: {_field(str(doc['error']))[:200]}", where=where)
    action = doc.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise RspamdError(f"unknown action {_field(str(action))[:40]!r}", where=where)
    score = _number(doc.get("score"))
    if score is None:
        raise RspamdError("answer has no numeric score", where=where)
    symbols: list[tuple[float, str]] = []
    raw = doc.get("symbols")
    if isinstance(raw, dict):
        for name, sym in raw.items():
            weight = _number(sym.get("score")) if isinstance(sym, dict) else None
            symbols.append((weight or 0.0, name))
    symbols.sort(key=lambda s: (-s[0], s[1]))
    names = tuple(n for _, n in symbols if _token(n))[:MAX_SYMBOLS]
    return Answer(action, score, _number(doc.get("required_score")), names)


def _token(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-.") for c in name)


FIELD = "X-Postel-Rspamd"


def header_field(answer: Answer | None) -> bytes:
    """``X-Postel-Rspamd: add header; score=6.00; required=15.00; symbols=A,B``
    for the stored message; empty when rspamd was not asked or gave no answer."""
    if answer is None:
        return b""
    parts = [answer.action, f"score={answer.score:.2f}"]
    if answer.required is not None:
        parts.append(f"required={answer.required:.2f}")
    if answer.symbols:
        parts.append("symbols=" + ",".join(answer.symbols))
    return f"{FIELD}: {'; '.join(parts)}\r\n".encode("ascii")
