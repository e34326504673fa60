"""One page of a FETCH: the index rows of a run of UIDs, what is kept of their
messages (answers, structures, header fields), read once per page, and each
message's FETCH data (fetch.py). Runs in a worker thread."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from postel.imapserver.derived import DerivedCache
from postel.imapserver.fetch import (
    Opener,
    Segment,
    StructureCache,
    answer_items,
    fetch_items,
    from_head,
    sections_need_structure,
    stored_item,
    structure_for,
)
from postel.imapserver.fetchatt import FetchAtt
from postel.imapserver.storeapi import MailStore, page_messages
from postel.store import Message, MessageNotFound
from postel.store.mimestructure import Stored


@dataclass
class Page:
    items: list[tuple[int, list[Segment]]] = field(default_factory=list)  # (uid, FETCH data)
    seen: list[Message] = field(default_factory=list)  # set \Seen by this FETCH


@dataclass(frozen=True)
class Fetch:
    """What one FETCH command asks, the same for each of its pages."""

    atts: tuple[FetchAtt, ...]
    with_uid: bool
    since: int | None  # CHANGEDSINCE (RFC 7162 §3.1.4)
    set_seen: bool
    account: str
    cache: StructureCache
    derived: DerivedCache | None


def build(store: MailStore, mailbox: str, uids: list[int], f: Fetch) -> Page:
    """The FETCH data of the messages *uids* (ascending) of *mailbox*."""
    page = Page()
    msgs = page_messages(store, mailbox, uids)
    if f.since is not None:
        msgs = [m for m in msgs if m.modseq > f.since]
    if not msgs:
        return page
    ids = [m.msgid for m in msgs]
    items = answer_items(f.atts)
    answers = _answers(store, ids, items, f) if items else {}
    heads = store.heads(ids) if any(from_head(a) for a in f.atts) else {}

    # The stored structure, for those of the messages whose answers are not
    # all kept or whose sections need it.
    wanted = {
        i
        for i in ids
        if len(answers.get(i, ())) < len(items) or sections_need_structure(f.atts, head=i in heads)
    }
    blobs = store.structures(sorted(wanted)) if wanted else {}
    computed: dict[int, tuple[bytes, bytes]] = {}
    made: dict[int, dict[str, bytes]] = {}
    head_asked = any(from_head(a) for a in f.atts)
    for msg in msgs:
        atts = f.atts
        if f.set_seen and "\\Seen" not in msg.flags:
            msg = store.set_flags(msg.msgid, ["\\Seen"], [])
            page.seen.append(msg)
            if not any(a.name == "FLAGS" for a in atts):
                atts = (*atts, FetchAtt("FLAGS"))
        source: Opener = functools.partial(store.open_message, msg.msgid)
        mine: dict[str, bytes] = {}
        try:
            stored: Stored | None = None
            if msg.msgid in wanted:
                # Header fields missing (stored before them) are added when asked for.
                has_head = msg.msgid in heads or not head_asked
                stored = structure_for(
                    blobs.get(msg.msgid), source, msg.msgid, computed, head=has_head
                )
            data = fetch_items(
                msg,
                atts,
                source,
                f.cache,
                with_uid=f.with_uid,
                derived=f.derived,
                account=f.account,
                stored=stored,
                answers=answers.get(msg.msgid),
                made=mine,
                head=heads.get(msg.msgid),
            )
        except (FileNotFoundError, MessageNotFound):
            continue  # expunged meanwhile
        if mine:
            made[msg.msgid] = mine
        page.items.append((msg.uid, data))
    store.keep_structures(computed)
    store.keep_answers(
        {i: {stored_item(k): v for k, v in items.items()} for i, items in made.items()}
    )
    return page


def _answers(
    store: MailStore, ids: list[int], items: tuple[str, ...], f: Fetch
) -> dict[int, dict[str, bytes]]:
    """The kept answers of *items* for *ids*: the process's cache first, then
    the store's (which then go to the cache)."""
    out: dict[int, dict[str, bytes]] = {}
    missing = []
    for i in ids:
        got = {}
        if f.derived is not None:
            for name in items:
                value = f.derived.get(f.account, i, name)
                if value is not None:
                    got[name] = value
        out[i] = got
        if len(got) < len(items):
            missing.append(i)
    if missing:
        for i, kept in store.answers(missing).items():
            got = out[i]
            for name in items:
                value = kept.get(stored_item(name))
                if value is not None and name not in got:
                    got[name] = value
                    if f.derived is not None:
                        f.derived.put(f.account, i, name, value)
    return out
