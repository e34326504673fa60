"""Reading a stored message for display: headers, body, attachments (RFC 2045, 2046)."""

from __future__ import annotations

import base64
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser

MAX_INLINE_IMAGE = 2 * 1024 * 1024  # cid: images inlined as data: URLs up to this size in total
INLINE_IMAGE_TYPES = ("image/png", "image/gif", "image/jpeg", "image/webp")


@dataclass(frozen=True)
class Attachment:
    index: int  # position among the leaf parts (stable for one message file)
    filename: str
    content_type: str
    size: int


@dataclass
class MessageView:
    subject: str = ""
    from_: str = ""
    to: str = ""
    cc: str = ""
    bcc: str = ""
    in_reply_to: str = ""
    reply_to: str = ""
    date: str = ""
    message_id: str = ""
    references: str = ""
    text: str = ""  # the text/plain body (also derived when only HTML exists: empty)
    html: str | None = None  # raw HTML body, to be sanitised
    attachments: list[Attachment] = field(default_factory=list)
    cids: dict[str, str] = field(default_factory=dict)  # content-id -> data: URL


def parse(data: bytes) -> EmailMessage:
    msg = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def leaves(msg: Message) -> list[Message]:
    """Leaf parts in order; message/rfc822 parts are leaves (shown as attachments)."""
    out: list[Message] = []

    def walk(part: Message) -> None:
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            for sub in part.get_payload():
                if isinstance(sub, Message):
                    walk(sub)
        else:
            out.append(part)

    walk(msg)
    return out


def header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # malformed header values must not break display
        return ""
    return str(value) if value is not None else ""


def part_bytes(part: Message) -> bytes:
    """The decoded content of a leaf part (a whole message for message/rfc822)."""
    if part.get_content_type() == "message/rfc822":
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0].as_bytes()
        return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def part_text(part: Message) -> str:
    data = part_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def filename_of(part: Message, index: int) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        return str(name).replace("/", "_").replace("\\", "_")
    if part.get_content_type() == "message/rfc822":
        return f"message-{index}.eml"
    return f"part-{index}"


def view(data: bytes) -> MessageView:
    """Everything the read page shows, from the raw message."""
    msg = parse(data)
    v = MessageView(
        subject=header(msg, "Subject"),
        from_=header(msg, "From"),
        to=header(msg, "To"),
        cc=header(msg, "Cc"),
        bcc=header(msg, "Bcc"),
        in_reply_to=header(msg, "In-Reply-To").strip(),
        reply_to=header(msg, "Reply-To"),
        date=header(msg, "Date"),
        message_id=header(msg, "Message-ID").strip(),
        references=header(msg, "References"),
    )
    parts = leaves(msg)
    text_part = html_part = None
    for part in parts:
        disp = part.get_content_disposition()
        if disp == "attachment" or part.get_filename():
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and text_part is None:
            text_part = part
        elif ctype == "text/html" and html_part is None:
            html_part = part
    if text_part is not None:
        v.text = part_text(text_part)
    if html_part is not None:
        v.html = part_text(html_part)
    budget = MAX_INLINE_IMAGE
    for i, part in enumerate(parts):
        if part is text_part or part is html_part:
            continue
        ctype = part.get_content_type()
        cid = header(part, "Content-ID").strip().strip("<>")
        content = part_bytes(part)
        if cid and ctype in INLINE_IMAGE_TYPES and len(content) <= budget and html_part:
            budget -= len(content)
            v.cids[cid] = f"data:{ctype};base64,{base64.b64encode(content).decode()}"
            if part.get_content_disposition() != "attachment":
                continue
        v.attachments.append(Attachment(i, filename_of(part, i), ctype, len(content)))
    return v


def leaf(data: bytes, index: int) -> Message | None:
    parts = leaves(parse(data))
    return parts[index] if 0 <= index < len(parts) else None
