"""Composing outgoing messages and reply/forward drafts (RFC 5322, RFC 2045)."""

from __future__ import annotations

import email.policy
import email.utils
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message

from postel.errors import InputError
from postel.smtp.address import parse_address
from postel.smtp.errors import AddressError
from postel.web.webmail.mime import MessageView


class ComposeError(InputError):
    """A compose form field is unusable (the field and why in the message)."""


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Draft:
    """The fields of the compose form."""

    from_addr: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    requiretls: bool = False
    keep: list[str] = field(default_factory=list)  # "<msgid>:<part index>" attachments to carry


def split_addresses(text: str, field_name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of a To/Cc/Bcc field; ComposeError when one is bad."""
    out: list[tuple[str, str]] = []
    if not text.strip():
        return out
    for name, addr in email.utils.getaddresses([text.replace("\n", " ")]):
        if not addr and not name:
            continue
        try:
            parsed = parse_address(addr.strip(), smtputf8=True)
        except AddressError as exc:
            raise ComposeError(f"{field_name}: {addr or name!r} is not an address: {exc}") from None
        out.append((name.strip(), str(parsed)))
    return out


# C0 controls (tab allowed), DEL, C1 controls and U+2028/U+2029: a line break in a
# header field would end it and start another (header injection), a NUL is not
# allowed in a message at all (RFC 5322 §2.2, RFC 5321 §4.1.1.4), and the email
# package treats every line boundary of str.splitlines as a line break.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def check_header_text(field_name: str, value: str, fix: str = "enter it on one line") -> str:
    """*value* for header field *field_name* as the user gave it; ComposeError (saying
    what to *fix*) when it holds a line break or another control character."""
    m = _CONTROL.search(value)
    if m is not None:
        what = "a line break" if m.group() in _LINE_BREAKS else "a control character"
        raise ComposeError(f"{field_name}: contains {what}; {fix}")
    return value


def check_recipient_count(rcpts: Sequence[str], limit: int) -> None:
    """At most *limit* envelope recipients per message (postel.toml [limits]
    max_recipients, as for SMTP submission)."""
    if len(rcpts) > limit:
        raise ComposeError(f"too many recipients: {len(rcpts)}, at most {limit} per message")


def _one_line(value: str) -> str:
    """Message ids of a received header, unfolded (RFC 5322 §2.2.3) for the form."""
    return " ".join(value.split())


def _set_header(msg: EmailMessage, name: str, value: str | list[HeaderAddress]) -> None:
    """Add header field *name* from the user's *value*; ComposeError when the value,
    or what its RFC 2047 encoded words decode to, holds a line break or another
    control character (the email package writes a decoded line break out as it
    is: header injection)."""
    if isinstance(value, str):
        check_header_text(name, value)
    msg[name] = value
    check_header_text(name, str(msg[name]))
    _check_folded(name, msg)


def _check_folded(name: str, msg: Message, fix: str = "enter it on one line") -> None:
    """Header field *name* of *msg* as it will be written must be one field: each
    line break followed by white space (folding, RFC 5322 §2.2.3). Encoded words
    in a display name are decoded and encoded again when written."""
    for policy in (email.policy.SMTP, email.policy.SMTPUTF8):
        for value in msg.get_all(name, []):
            lines = policy.fold(name, value).removesuffix("\r\n").split("\r\n")
            for line in lines[1:]:
                if line[:1] not in (" ", "\t"):
                    raise ComposeError(f"{name}: contains a line break; {fix}")
            check_header_text(name, " ".join(lines), fix)


def _header_address(name: str, addr: str) -> HeaderAddress:
    local, _, domain = addr.rpartition("@")
    return HeaderAddress(display_name=name, username=local, domain=domain)


def recipients(d: Draft) -> list[str]:
    """Envelope recipients: To, Cc and Bcc, each once."""
    seen: dict[str, str] = {}
    for field_name, text in (("To", d.to), ("Cc", d.cc), ("Bcc", d.bcc)):
        for _, addr in split_addresses(text, field_name):
            seen.setdefault(addr.lower(), addr)
    return list(seen.values())


def build_message(
    d: Draft,
    *,
    from_name: str,
    hostname: str,
    attachments: Sequence[Upload] = (),
    carried: Sequence[EmailMessage | Upload] = (),
    now: datetime | None = None,
    bcc_header: bool = False,
) -> EmailMessage:
    """The message for *d*. Bcc is only written for drafts (*bcc_header*)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    _set_header(msg, "From", [_header_address(from_name, d.from_addr)])
    for field_name, text in (("To", d.to), ("Cc", d.cc)) + (
        (("Bcc", d.bcc),) if bcc_header else ()
    ):
        addrs = split_addresses(text, field_name)
        if addrs:
            _set_header(msg, field_name, [_header_address(n, a) for n, a in addrs])
    _set_header(msg, "Subject", d.subject.replace("\r", " ").replace("\n", " "))
    msg["Date"] = email.utils.format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = f"<{os.urandom(12).hex()}@{hostname}>"
    if d.in_reply_to:
        _set_header(msg, "In-Reply-To", d.in_reply_to)
    if d.references:
        _set_header(msg, "References", d.references)
    msg.set_content(d.body.replace("\r\n", "\n"), charset="utf-8")
    for item in list(carried) + list(attachments):
        if isinstance(item, EmailMessage):
            msg.add_attachment(item)
            continue
        maintype, _, subtype = (item.content_type or "").lower().partition("/")
        if (
            maintype in ("", "multipart", "message")
            or _TOKEN.fullmatch(maintype) is None
            or _TOKEN.fullmatch(subtype) is None
        ):
            maintype, subtype = "application", "octet-stream"
        what = f"attachment {item.filename!r}"
        check_header_text(what, item.filename, "rename the file")
        msg.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.filename)
        parts = msg.get_payload()
        assert isinstance(parts, list) and isinstance(parts[-1], EmailMessage)
        try:
            _check_folded("Content-Disposition", parts[-1], "rename the file")
            _check_folded("Content-Type", parts[-1], "rename the file")
        except ComposeError:
            raise ComposeError(f"{what}: contains a line break; rename the file") from None
    return msg


# A MIME type or subtype name (RFC 2045 §5.1 token).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")

_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg)\s*:\s*)+", re.I)


def _subject(prefix: str, subject: str) -> str:
    base = _PREFIX.sub("", subject)
    return f"{prefix}: {base}"


def quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def reply_draft(v: MessageView, own: set[str], *, all_recipients: bool, from_addr: str) -> Draft:
    """A reply (RFC 5322 §3.6.4): to Reply-To or From; reply-all adds To and Cc minus
    the account's own addresses."""
    target = v.reply_to or v.from_
    to = [a for _, a in email.utils.getaddresses([target]) if a]
    cc: list[str] = []
    if all_recipients:
        for _, a in email.utils.getaddresses([v.to, v.cc]):
            if a and a.lower() not in own and a.lower() not in {x.lower() for x in to + cc}:
                cc.append(a)
    refs = _one_line(" ".join((v.references, v.message_id)))
    intro = f"On {v.date}, {v.from_} wrote:" if v.date else f"{v.from_} wrote:"
    return Draft(
        from_addr=from_addr,
        to=", ".join(to),
        cc=", ".join(cc),
        subject=_subject("Re", v.subject),
        body="\n\n" + intro + "\n" + quote(v.text),
        in_reply_to=_one_line(v.message_id),
        references=refs,
    )


def forward_draft(v: MessageView, *, from_addr: str) -> Draft:
    head = [
        "---------- Forwarded message ----------",
        f"From: {v.from_}",
        f"Date: {v.date}",
        f"Subject: {v.subject}",
        f"To: {v.to}",
    ]
    if v.cc:
        head.append(f"Cc: {v.cc}")
    return Draft(
        from_addr=from_addr,
        subject=_subject("Fwd", v.subject),
        body="\n\n" + "\n".join(head) + "\n\n" + v.text,
    )


def draft_from_view(v: MessageView, *, from_addr: str) -> Draft:
    """Re-open a saved draft."""
    addrs = [a for _, a in email.utils.getaddresses([v.from_]) if a]
    return Draft(
        from_addr=addrs[0] if addrs else from_addr,
        to=v.to,
        cc=v.cc,
        bcc=v.bcc,
        subject=v.subject,
        body=v.text,
        in_reply_to=_one_line(v.in_reply_to),
        references=_one_line(v.references),
    )
