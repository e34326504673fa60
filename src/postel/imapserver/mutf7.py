"""Modified UTF-7 mailbox names of IMAP4rev1 (RFC 3501 §5.1.3): pure.

IMAP4rev2 clients (and those that ENABLE UTF8=ACCEPT) use UTF-8 instead."""

from __future__ import annotations

import base64
import binascii

from postel.errors import InputError


class MUTF7Error(InputError):
    """A mailbox name that is not valid modified UTF-7."""


def _b64(text: str) -> str:
    raw = base64.b64encode(text.encode("utf-16-be")).decode("ascii")
    return raw.rstrip("=").replace("/", ",")


def encode(name: str) -> str:
    out: list[str] = []
    run: list[str] = []
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            if run:
                out.append("&" + _b64("".join(run)) + "-")
                run = []
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    if run:
        out.append("&" + _b64("".join(run)) + "-")
    return "".join(out)


def decode(name: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ord(ch) > 0x7E or ord(ch) < 0x20:
            raise MUTF7Error(f"mailbox name {name!r}: 8-bit or control character")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i)
        if end < 0:
            raise MUTF7Error(f"mailbox name {name!r}: unterminated &...- sequence")
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            try:
                out.append(base64.b64decode(padded, validate=True).decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise MUTF7Error(f"mailbox name {name!r}: invalid &...- sequence") from None
        i = end + 1
    return "".join(out)
