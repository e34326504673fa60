"""BINARY (RFC 3516): a part's content with its Content-Transfer-Encoding
undone, for FETCH BINARY[part], BINARY.PEEK and BINARY.SIZE: pure.

Base64 and quoted-printable are decoded (leniently, as mail readers do:
characters outside the alphabet are skipped); 7bit, 8bit and binary parts
are served as they are, as are multiparts and the whole message (BINARY[]).
Any other encoding is an UNKNOWN-CTE (RFC 3516 §5)."""

from __future__ import annotations

import binascii

from postel.imapserver.errors import IMAPServerError
from postel.imapserver.mime import Buffer, Part, find_part

IDENTITY = frozenset({"7BIT", "8BIT", "BINARY", ""})
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(c for c in range(256) if c not in _B64)


class UnknownCTE(IMAPServerError):
    """A part's transfer encoding is not one postel can decode: a tagged
    NO [UNKNOWN-CTE] (RFC 3516 §5)."""


def decode_base64(data: bytes) -> bytes:
    """Base64 with anything outside the alphabet skipped and padding repaired."""
    clean = data.translate(None, _NOT_B64)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def decode(encoding: str, data: bytes) -> bytes:
    """*data* with the transfer *encoding* undone."""
    enc = encoding.strip().upper()
    if enc in IDENTITY:
        return data
    if enc == "BASE64":
        return decode_base64(data)
    if enc == "QUOTED-PRINTABLE":
        return binascii.a2b_qp(data)
    raise UnknownCTE(f"cannot decode Content-Transfer-Encoding {encoding!r}")


def content(root: Part, part: tuple[int, ...], buf: Buffer) -> bytes | tuple[int, int]:
    """BINARY[*part*] of a message: the decoded bytes, or the byte range of
    *buf* to serve as it is. NoSuchPart for a part the message lacks."""
    if not part:
        return root.start, root.end
    node = find_part(root, part)
    enc = node.encoding.strip().upper()
    composite = node.is_multipart or node.message is not None
    if composite and enc not in IDENTITY:  # RFC 2045 §6.4: composites are not encoded
        raise UnknownCTE(f"a {node.maintype} part with encoding {node.encoding!r}")
    if enc in IDENTITY:
        return node.body_start, node.end
    return decode(enc, bytes(buf[node.body_start : node.end]))


def has_nul(data: bytes | Buffer, start: int = 0, end: int | None = None) -> bool:
    """Whether the data holds a NUL: then it goes as a literal8 (RFC 3516 §4.2)."""
    return data.find(b"\0", start, len(data) if end is None else end) != -1
