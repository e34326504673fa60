"""LIST and LSUB (RFC 9051 §6.3.9, RFC 5258, RFC 6154): names, wildcards and
attributes, from the account's mailbox names: pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from postel.store.names import INBOX, SEPARATOR

# RFC 6154 §2: the store's default mailboxes and their special use.
SPECIAL_USE = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}


def to_imap(name: str) -> str:
    """The store's name as IMAP shows it: the Inbox is INBOX (RFC 9051 §5.1)."""
    if name == INBOX:
        return "INBOX"
    if name.startswith(INBOX + SEPARATOR):
        return "INBOX" + name[len(INBOX) :]
    return name


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """ "*" matches anything, "%" anything but the separator (RFC 9051 §6.3.9)."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(SEPARATOR)}]*")
        else:
            out.append(re.escape(ch))
    text = "".join(out)
    if pattern[:5].upper() == "INBOX" and (len(pattern) == 5 or pattern[5] in SEPARATOR + "*%"):
        text = "(?i:INBOX)" + "".join(out[5:])  # INBOX is case-insensitive
    return re.compile(text + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class Entry:
    name: str  # IMAP name (INBOX ...)
    store_name: str
    attributes: tuple[str, ...]
    exists: bool


def list_entries(
    names: Iterable[str],
    reference: str,
    patterns: Iterable[str],
    *,
    rev2: bool,
    special_use_only: bool = False,
) -> list[Entry]:
    """The LIST answer for store mailbox *names*: matching mailboxes and the
    missing parents of matching children (\\NonExistent or \\Noselect)."""
    existing = {to_imap(n): n for n in names}
    parents: set[str] = set()
    for name in existing:
        parts = name.split(SEPARATOR)
        for i in range(1, len(parts)):
            parents.add(SEPARATOR.join(parts[:i]))
    all_names = set(existing) | parents
    regexes = []
    for pattern in patterns:
        full = (
            reference + pattern if not pattern.startswith(SEPARATOR) or not reference else pattern
        )
        regexes.append(pattern_regex(full))
    out: list[Entry] = []
    for name in sorted(all_names, key=lambda n: (n.upper() != "INBOX", n)):
        if not any(r.match(name) for r in regexes):
            continue
        store_name = existing.get(name, "")
        prefix = name + SEPARATOR
        children = any(n.startswith(prefix) for n in all_names)
        attrs = ["\\HasChildren" if children else "\\HasNoChildren"]
        if not store_name:
            attrs.insert(0, "\\NonExistent" if rev2 else "\\Noselect")
        special = SPECIAL_USE.get(store_name)
        if special:
            attrs.append(special)
        elif special_use_only:
            continue
        if store_name and rev2:
            attrs.append("\\Subscribed")
        out.append(Entry(name, store_name, tuple(attrs), bool(store_name)))
    return out
