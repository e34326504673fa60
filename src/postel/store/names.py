"""Validation of mailbox names, flags and keywords (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from postel.store.errors import InvalidFlag, InvalidMailboxName, StoreError, UnsupportedSpecialUse

INBOX = "Inbox"
DEFAULT_MAILBOXES = ("Inbox", "Sent", "Drafts", "Archive", "Junk", "Trash")
SEPARATOR = "/"
MAX_MAILBOX_NAME = 200

# RFC 6154 §2: the special uses a mailbox can have here (\All and \Flagged
# would be virtual mailboxes, which the store has not), and the default
# mailboxes' uses; each use belongs to one mailbox at most.
SPECIAL_USES = ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash")
DEFAULT_SPECIAL_USE = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Archive": "\\Archive",
    "Junk": "\\Junk",
    "Trash": "\\Trash",
}
_SPECIAL_BY_LOWER = {u.lower(): u for u in SPECIAL_USES}

# RFC 9051 §2.3.2 system flags (\Recent is gone in IMAP4rev2).
SYSTEM_FLAGS = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"})
_SYSTEM_BY_LOWER = {f.lower(): f for f in SYSTEM_FLAGS}
# A keyword is an IMAP atom (RFC 9051 §9 "atom"): no specials, controls, space.
_KEYWORD = re.compile(r"^[!#$&'+\-.0-9:;<=>?@A-Z^_`a-z|~]{1,100}$")
_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_account_name(name: str) -> str:
    from postel.store.errors import UnknownAccount

    if not _ACCOUNT.match(name):
        raise UnknownAccount(
            f"invalid account name {name!r}: 1-64 lower-case letters, digits, . _ -"
        )
    return name


def normalize_mailbox(name: str) -> str:
    """Check a mailbox name; "INBOX" in any case is the Inbox (RFC 9051 §5.1)."""
    if not name:
        raise InvalidMailboxName("empty mailbox name")
    if len(name) > MAX_MAILBOX_NAME:
        raise InvalidMailboxName(f"mailbox name longer than {MAX_MAILBOX_NAME}: {name[:40]!r}...")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c in "*%" for c in name):
        raise InvalidMailboxName(f"mailbox name {name!r} has control characters, * or %")
    parts = name.split(SEPARATOR)
    if any(p == "" or p != p.strip() for p in parts):
        raise InvalidMailboxName(
            f"mailbox name {name!r}: empty hierarchy part or surrounding spaces"
        )
    if parts[0].upper() == "INBOX":
        parts[0] = INBOX
    return SEPARATOR.join(parts)


def check_special_use(use: str) -> str:
    """*use* in its canonical case, if the store supports it (RFC 6154 §2)."""
    canonical = _SPECIAL_BY_LOWER.get(use.lower())
    if canonical is None:
        raise UnsupportedSpecialUse(
            f"special use {use!r} is not supported: one of {', '.join(SPECIAL_USES)}"
        )
    return canonical


def split_flags(values: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Split into (system flags, keywords); system flags in canonical case."""
    flags: set[str] = set()
    keywords: set[str] = set()
    for value in values:
        if value.startswith("\\"):
            canonical = _SYSTEM_BY_LOWER.get(value.lower())
            if canonical is None:
                raise InvalidFlag(f"unknown system flag {value!r}")
            flags.add(canonical)
        elif _KEYWORD.match(value):
            keywords.add(value)
        else:
            raise InvalidFlag(f"invalid keyword {value!r}: must be an IMAP atom")
    return frozenset(flags), frozenset(keywords)


FLAG_MODES = ("add", "remove", "replace")  # of a STORE (RFC 9051 §6.4.6)


def store_flags_request(
    uids: Iterable[int], flags: Iterable[str], mode: str
) -> tuple[frozenset[str], frozenset[str], list[int]]:
    """A STORE's arguments checked, as every store backend takes them: (system
    flags, keywords, the UIDs sorted once each)."""
    if mode not in FLAG_MODES:
        raise StoreError(f"store_flags: mode must be one of {FLAG_MODES}, not {mode!r}")
    system, keywords = split_flags(flags)
    return system, keywords, sorted(set(uids))


def join_flags(values: Iterable[str]) -> str:
    return " ".join(sorted(values))


def parse_flags(text: str) -> frozenset[str]:
    return frozenset(text.split())
