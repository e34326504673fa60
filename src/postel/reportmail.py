"""The e-mail that carries an outgoing report (TLS reports, RFC 8460 §5.3; DMARC
aggregate reports, RFC 7489 §7.2.1.1): a multipart message with a short text
part and the gzipped report as a base64 attachment, as bytes with CRLF line
endings (pure)."""

from __future__ import annotations

import base64

CRLF = b"\r\n"


def fold(name: str, value: str, width: int = 78) -> bytes:
    """One header field, folded at spaces to keep lines under *width* (RFC 5322 §2.2.3)."""
    words = value.split(" ")
    lines: list[str] = []
    line = f"{name}:"
    for w in words:
        if len(line) + 1 + len(w) > width and line.strip() and line != f"{name}:":
            lines.append(line)
            line = " " + w
        else:
            line += " " + w
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (RFC 2045 §6.8)."""
    enc = base64.b64encode(data)
    return b"".join(enc[i : i + 76] + CRLF for i in range(0, len(enc), 76))


def report_message(
    headers: list[bytes],
    *,
    boundary: str,
    text: bytes,
    attachment_type: str,
    filename: str,
    data: bytes,
) -> bytes:
    """*headers* (folded fields, Content-Type naming *boundary* among them), then
    the text part (ASCII, CRLF line ends) and *data* attached as *filename*."""
    b = boundary.encode("ascii")
    return b"".join(
        [
            *headers,
            CRLF,
            b"This is a multipart message in MIME format." + CRLF,
            CRLF,
            b"--" + b + CRLF,
            b"Content-Type: text/plain; charset=us-ascii" + CRLF,
            b"Content-Transfer-Encoding: 7bit" + CRLF,
            CRLF,
            text,
            CRLF,
            b"--" + b + CRLF,
            fold("Content-Type", f'{attachment_type}; name="{filename}"'),
            fold("Content-Disposition", f'attachment; filename="{filename}"'),
            b"Content-Transfer-Encoding: base64" + CRLF,
            CRLF,
            base64_lines(data),
            CRLF,
            b"--" + b + b"--" + CRLF,
        ]
    )
