"""What the queue needs to know from a message's content (pure, plus file reading)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HEADER_LIMIT = 256 * 1024
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$", re.S)


@dataclass(frozen=True)
class ContentFlags:
    tls_required_no: bool
    is_tlsrpt: bool
    header_utf8: bool  # non-ASCII header: needs SMTPUTF8 (RFC 6532 §3)
    eightbit: bool  # any byte above 127 anywhere: needs 8BITMIME (RFC 6152)
    subject: str
    message_id: str


def split_header(data: bytes) -> bytes:
    """The header block of *data* up to and including its terminating empty line."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            return data[: i + len(sep)]
    return data


def read_header_block(path: Path, limit: int = HEADER_LIMIT) -> bytes:
    with open(path, "rb") as fp:
        return split_header(fp.read(limit))


def header_fields(block: bytes) -> list[tuple[str, str]]:
    """(lower-case name, unfolded value) of each field, RFC 5322 §2.2.3."""
    out: list[tuple[str, str]] = []
    unfolded: list[bytes] = []
    for line in block.splitlines():
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + line.strip()
        else:
            unfolded.append(line)
    for raw in unfolded:
        m = _FIELD.match(raw)
        if m is None:
            continue
        out.append(
            (m.group(1).decode("ascii").lower(), m.group(2).strip().decode("utf-8", "replace"))
        )
    return out


def flags_from_header(block: bytes, *, eightbit: bool) -> ContentFlags:
    fields = header_fields(block)
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name, []).append(value)
    tls_required = [v.strip().lower() for v in values.get("tls-required", [])]
    return ContentFlags(
        # RFC 8689 §5: "TLS-Required: No" (case-insensitive).
        tls_required_no="no" in tls_required,
        is_tlsrpt="tls-report-domain" in values,
        header_utf8=not block.isascii(),
        eightbit=eightbit,
        subject=(values.get("subject") or [""])[0][:500],
        message_id=(values.get("message-id") or [""])[0][:500],
    )


def has_8bit(path: Path) -> bool:
    with open(path, "rb") as fp:
        while chunk := fp.read(1 << 20):
            if not chunk.isascii():
                return True
    return False


def content_flags(path: Path) -> ContentFlags:
    return flags_from_header(read_header_block(path), eightbit=has_8bit(path))
