"""Response encoding (RFC 9051 §4 and §7): strings, ENVELOPE, BODYSTRUCTURE: pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.message import Message as EmailMessage
from email.utils import getaddresses

from postel.imapserver.mime import Part

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_QUOTABLE_MAX = 1000  # longer strings go out as literals


def astring_safe(value: bytes) -> bool:
    return all(0x20 <= c < 0x7F and c not in b'(){ %*"\\]' for c in value) and bool(value)


def string(value: bytes | str) -> bytes:
    """A quoted string when it can be one, else a literal (RFC 9051 §4.3)."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if len(data) <= _QUOTABLE_MAX and all(0x20 <= c < 0x7F for c in data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def nstring(value: bytes | str | None) -> bytes:
    return b"NIL" if value is None else string(value)


def astring(value: str) -> bytes:
    data = value.encode("utf-8")
    return data if astring_safe(data) and data.upper() != b"NIL" else string(data)


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(sorted(flags)).encode("ascii", "replace") + b")"


def internal_date(when: datetime) -> bytes:
    """date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 9051 §9)."""
    offset = when.utcoffset()
    minutes = 0 if offset is None else int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    text = (
        f'"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} '
        f'{when.hour:02d}:{when.minute:02d}:{when.second:02d} {zone}"'
    )
    return text.encode("ascii")


def _raw_all(msg: EmailMessage, name: str) -> list[str]:
    """The values of field *name* as sent: UTF-8 (RFC 6532) as text, other 8-bit
    bytes as surrogates that encode back to themselves (:func:`string`)."""
    name = name.lower()
    return [
        str(v).encode("ascii", "surrogateescape").decode("utf-8", "surrogateescape")
        for k, v in msg.raw_items()
        if k.lower() == name
    ]


def _header(msg: EmailMessage, name: str) -> str | None:
    values = _raw_all(msg, name)
    if not values:
        return None
    return " ".join(values[0].split())  # unfolded


def _addresses(msg: EmailMessage, name: str) -> bytes:
    """An address list (RFC 9051 §7.5.2 "env-from" etc.), with group markers."""
    raw = _raw_all(msg, name)
    if not raw:
        return b"NIL"
    items: list[bytes] = []
    for text in raw:
        for display, addr in getaddresses([" ".join(str(text).split())]):
            if not addr and not display:
                continue
            local, at, host = addr.rpartition("@")
            if not at:
                local, host = addr, ""
            items.append(
                b"("
                + nstring(display or None)
                + b" NIL "
                + nstring(local or None)
                + b" "
                + nstring(host or None)
                + b")"
            )
    return b"(" + b"".join(items) + b")" if items else b"NIL"


def envelope(msg: EmailMessage) -> bytes:
    """ENVELOPE from a parsed header (RFC 9051 §7.5.2): Sender and Reply-To
    default to From."""
    frm = _addresses(msg, "from")
    sender = _addresses(msg, "sender")
    reply_to = _addresses(msg, "reply-to")
    fields = [
        nstring(_header(msg, "date")),
        nstring(_header(msg, "subject")),
        frm,
        frm if sender == b"NIL" else sender,
        frm if reply_to == b"NIL" else reply_to,
        _addresses(msg, "to"),
        _addresses(msg, "cc"),
        _addresses(msg, "bcc"),
        nstring(_header(msg, "in-reply-to")),
        nstring(_header(msg, "message-id")),
    ]
    return b"(" + b" ".join(fields) + b")"


def _param_list(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(string(k) + b" " + string(v) for k, v in params) + b")"


def _disposition(part: Part) -> bytes:
    if part.disposition is None:
        return b"NIL"
    return (
        b"(" + string(part.disposition.upper()) + b" " + _param_list(part.disposition_params) + b")"
    )


def _language(part: Part) -> bytes:
    if part.language is None:
        return b"NIL"
    langs = [x.strip() for x in part.language.split(",") if x.strip()]
    if len(langs) == 1:
        return string(langs[0])
    return b"(" + b" ".join(string(x) for x in langs) + b")" if langs else b"NIL"


def body_structure(part: Part, header_of: dict[int, EmailMessage], *, extended: bool) -> bytes:
    """BODYSTRUCTURE (*extended*) or BODY (RFC 9051 §7.5.2); *header_of* has the
    parsed header of each message/rfc822 part's message, by its start offset."""
    if part.is_multipart:
        out = b"(" + b"".join(
            body_structure(c, header_of, extended=extended) for c in part.children
        )
        out += b" " + string(part.subtype.upper())
        if extended:
            out += b" " + _param_list(part.params) + b" " + _disposition(part)
            out += b" " + _language(part) + b" " + nstring(part.location)
        return out + b")"
    fields = [
        string(part.maintype.upper()),
        string(part.subtype.upper()),
        _param_list(part.params),
        nstring(part.content_id),
        nstring(part.description),
        string(part.encoding),
        str(part.size).encode(),
    ]
    if part.message is not None:
        inner = part.message
        fields.append(envelope(header_of[inner.start]))
        fields.append(body_structure(inner, header_of, extended=extended))
        fields.append(str(part.lines).encode())
    elif part.maintype == "text":
        fields.append(str(part.lines).encode())
    if extended:
        fields += [nstring(part.md5), _disposition(part), _language(part), nstring(part.location)]
    return b"(" + b" ".join(fields) + b")"
