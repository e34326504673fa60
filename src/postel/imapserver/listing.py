"""LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.9, RFC 5258 LIST-EXTENDED,
RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE): options, names, wildcards and
attributes, from the account's mailboxes and subscriptions: pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from postel.imapserver.errors import ParseError
from postel.store.names import INBOX, SEPARATOR

# RFC 5258 §3.1 selection options and §3.2 return options (STATUS, RFC 5819 §2,
# comes with its items and is taken apart by the parser).
SELECTION_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"})


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
class ListOptions:
    """What one LIST asks for: selection (which names) and return options."""

    subscribed: bool = False  # selection SUBSCRIBED: subscribed names only
    special_use: bool = False  # selection SPECIAL-USE (RFC 6154 §3)
    recursive: bool = False  # RECURSIVEMATCH: parents of matches, with CHILDINFO
    return_subscribed: bool = False  # \Subscribed
    return_special_use: bool = True  # \Sent, \Trash ...
    status: tuple[str, ...] = ()  # LIST-STATUS items (RFC 5819)
    extended: bool = False  # \NonExistent rather than \Noselect for missing names


def list_options(
    selection: Iterable[str], returns: Iterable[str], *, patterns: int, rev2: bool
) -> ListOptions:
    """The options of a LIST command; ParseError (a BAD) for unknown options
    and for RECURSIVEMATCH without an option it could apply to (RFC 5258 §3)."""
    chosen = set(selection)
    unknown = chosen - SELECTION_OPTIONS
    if unknown:
        raise ParseError(f"LIST: unknown selection option {sorted(unknown)[0]}")
    if "RECURSIVEMATCH" in chosen and not chosen - {"RECURSIVEMATCH", "REMOTE"}:
        raise ParseError("LIST: RECURSIVEMATCH needs SUBSCRIBED or SPECIAL-USE with it")
    status: list[str] = []
    wanted: set[str] = set()
    any_return = False
    for option in returns:
        any_return = True
        if option.startswith("STATUS "):
            status.append(option.split(" ", 1)[1])
        elif option in RETURN_OPTIONS:
            wanted.add(option)
        else:
            raise ParseError(f"LIST: unknown return option {option}")
    return ListOptions(
        subscribed="SUBSCRIBED" in chosen,
        special_use="SPECIAL-USE" in chosen,
        recursive="RECURSIVEMATCH" in chosen,
        # A selection option implies returning what it selects by (RFC 5258 §3.1).
        return_subscribed="SUBSCRIBED" in wanted or "SUBSCRIBED" in chosen,
        return_special_use="SPECIAL-USE" in wanted or "SPECIAL-USE" in chosen or not any_return,
        status=tuple(dict.fromkeys(status)),
        extended=rev2 or bool(chosen) or any_return or patterns > 1,
    )


@dataclass(frozen=True)
class Entry:
    name: str  # IMAP name (INBOX ...)
    store_name: str  # "" when no mailbox has the name
    attributes: tuple[str, ...]
    exists: bool
    childinfo: tuple[str, ...] = ()  # RFC 5258 §3.5 CHILDINFO extended data

    def extended_data(self) -> str:
        """What follows the name in the LIST response: "" or CHILDINFO."""
        if not self.childinfo:
            return ""
        return ' ("CHILDINFO" (' + " ".join(f'"{c}"' for c in self.childinfo) + "))"


def _ancestors(name: str) -> Iterable[str]:
    parts = name.split(SEPARATOR)
    for i in range(1, len(parts)):
        yield SEPARATOR.join(parts[:i])


def _matcher(reference: str, patterns: Iterable[str]) -> list[re.Pattern[str]]:
    regexes = []
    for pattern in patterns:
        absolute = pattern.startswith(SEPARATOR) and reference
        regexes.append(pattern_regex(pattern if absolute else reference + pattern))
    return regexes


def _order(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (n.upper() != "INBOX", n))


def list_entries(
    mailboxes: Mapping[str, str],
    reference: str,
    patterns: Iterable[str],
    *,
    rev2: bool,
    subscriptions: Iterable[str] = (),
    options: ListOptions | None = None,
) -> list[Entry]:
    """The LIST answer. *mailboxes*: store name -> special use ("" for none);
    *subscriptions*: subscribed store names. Without a selection option:
    matching mailboxes and the missing parents of mailboxes (\\NonExistent or
    \\Noselect); with one: the names meeting it and, with RECURSIVEMATCH, the
    names whose descendants meet it (RFC 5258 §3)."""
    opts = options if options is not None else ListOptions(extended=rev2)
    existing = {to_imap(n): (n, use) for n, use in mailboxes.items()}
    subscribed = {to_imap(n) for n in subscriptions}
    universe = set(existing)
    if opts.subscribed:
        universe |= subscribed
    universe |= {a for n in list(universe) for a in _ancestors(n)}
    regexes = _matcher(reference, patterns)
    selecting = opts.subscribed or opts.special_use
    criteria = tuple(
        c for c, on in (("SUBSCRIBED", opts.subscribed), ("SPECIAL-USE", opts.special_use)) if on
    )

    def meets(name: str) -> bool:
        if opts.subscribed and name not in subscribed:
            return False
        return not opts.special_use or bool(existing.get(name, ("", ""))[1])

    # Names with an existing mailbox below, and with a selected name below.
    parents = {a for n in existing for a in _ancestors(n)}
    above_selected = (
        {a for n in universe if meets(n) for a in _ancestors(n)} if opts.recursive else set()
    )
    out: list[Entry] = []
    for name in _order(universe):
        if not any(r.match(name) for r in regexes):
            continue
        childinfo: tuple[str, ...] = ()
        if selecting:
            below = name in above_selected
            if below:
                childinfo = criteria
            if not meets(name) and not below:
                continue
        store_name, use = existing.get(name, ("", ""))
        attrs: list[str] = []
        if not store_name:
            attrs.append("\\NonExistent" if opts.extended else "\\Noselect")
        if name in parents:
            attrs.append("\\HasChildren")
        elif store_name:
            attrs.append("\\HasNoChildren")
        if use and opts.return_special_use:
            attrs.append(use)
        if name in subscribed and opts.return_subscribed:
            attrs.append("\\Subscribed")
        out.append(Entry(name, store_name, tuple(attrs), bool(store_name), childinfo))
    return out


def lsub_entries(
    mailboxes: Iterable[str], subscriptions: Iterable[str], reference: str, pattern: str
) -> list[Entry]:
    """The LSUB answer (IMAP4rev1, RFC 3501 §6.3.9): subscribed names, with
    \\Noselect when no mailbox has them; and for "%" the unsubscribed parent of
    a subscribed name the pattern does not reach, with \\Noselect."""
    existing = {to_imap(n): n for n in mailboxes}
    subscribed = {to_imap(n) for n in subscriptions}
    universe = subscribed | {a for n in subscribed for a in _ancestors(n)}
    regexes = _matcher(reference, [pattern])

    def matches(name: str) -> bool:
        return any(r.match(name) for r in regexes)

    out: list[Entry] = []
    for name in _order(universe):
        if not matches(name):
            continue
        store_name = existing.get(name, "")
        if name not in subscribed:
            prefix = name + SEPARATOR
            if not any(d.startswith(prefix) and not matches(d) for d in subscribed):
                continue
            store_name = ""
        attrs = () if store_name else ("\\Noselect",)
        out.append(Entry(name, store_name, attrs, bool(store_name)))
    return out
