"""The small part of HTTP/1.1 (RFC 9112) the policy fetch needs: request and response head."""

from __future__ import annotations

import re
from dataclasses import dataclass

from postel.mtasts.errors import PolicyFetchError

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?")
_HEADER = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in order

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive)."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]


def build_request(host: str, path: str, user_agent: str) -> bytes:
    """A GET request closing the connection after the response."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        f"User-Agent: {user_agent}",
        "Accept: text/plain",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def parse_response_head(data: bytes, url: str) -> ResponseHead:
    """Parse a status line and header fields, terminated by an empty line."""
    lines = data.split(b"\r\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise PolicyFetchError("empty HTTP response", url=url)
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        raise PolicyFetchError(f"malformed HTTP status line {lines[0][:80]!r}", url=url)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        m = _HEADER.fullmatch(line)
        if m is None:
            raise PolicyFetchError(f"malformed HTTP header line {line[:80]!r}", url=url)
        name = m.group(1).decode("ascii").lower()
        headers.append((name, m.group(2).decode("latin-1")))
    reason = (status.group(2) or b"").decode("latin-1")
    return ResponseHead(status=int(status.group(1)), reason=reason, headers=tuple(headers))


def content_length(head: ResponseHead, url: str) -> int | None:
    """The Content-Length, None when absent; conflicting or bad values are errors."""
    values = {v.strip() for raw in head.get_all("content-length") for v in raw.split(",")}
    if not values:
        return None
    if len(values) > 1 or not all(v.isdigit() and v.isascii() for v in values):
        raise PolicyFetchError(f"invalid Content-Length {sorted(values)!r}", url=url)
    return int(values.pop())


def is_chunked(head: ResponseHead) -> bool:
    codings = [c.strip().lower() for v in head.get_all("transfer-encoding") for c in v.split(",")]
    return bool(codings) and codings[-1] == "chunked"


def media_type(head: ResponseHead) -> str | None:
    """The Content-Type's media type, lower case, without parameters."""
    value = head.get("content-type")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()
