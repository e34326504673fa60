"""Live updates of an open mailbox page: server-sent events (WHATWG HTML,
"Server-sent events") over the store's change feed (postel.store.notify).

``GET /webmail/events?name=<mailbox>&since=<modseq>`` streams, whenever the
account changes, one ``changes`` event: the messages of the mailbox changed
after *since* (new rows, flags; each with its thread key, whose list row the
page then asks for at /webmail/rows), the UIDs removed, and every mailbox's unread
and total counts. The feed only wakes the stream; what is sent is read from the
store (AccountStore.changes_since), so a lost notification costs nothing but
time. A comment line every HEARTBEAT seconds keeps proxies and the browser
from giving up, and notices a client that is gone. Streams are bounded per
session and per client address (streamslots.py); they end when the session
ends (checked without counting as a use) and when the server stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from postel.store import MailboxNotFound, StoreError
from postel.store.api import AccountMail
from postel.store.message import Message
from postel.web.webmail.guard import account_of, page, session_of
from postel.web.webmail.state import PAGE_SIZE, PREFIX, WebmailState, state_of

log = logging.getLogger("postel.web")

HEARTBEAT = 15.0  # seconds between keep-alive comments
RETRY_MS = 5000  # the browser's reconnection delay (the "retry" field)


def _since(value: str | None) -> int | None:
    try:
        n = int(value) if value else None
    except ValueError:
        return None
    return n if n is not None and n >= 0 else None


def message_json(m: Message, mailbox: str) -> dict[str, Any]:
    outgoing = mailbox in ("Sent", "Drafts")
    href = f"{PREFIX}/compose?draft={m.msgid}" if mailbox == "Drafts" else f"{PREFIX}/msg/{m.msgid}"
    return {
        "uid": m.uid,
        "msgid": m.msgid,
        "thread": m.thread,
        "seen": m.seen,
        "flagged": "\\Flagged" in m.flags,
        "party": (m.to if outgoing else m.from_) or "(nobody)",
        "subject": m.subject or "(no subject)",
        "date": (m.date or m.received).strftime("%Y-%m-%d %H:%M"),
        "size": m.size,
        "attachments": m.has_attachments,
        "requiretls": m.requiretls,
        "href": href,
    }


def changes_event(acc: AccountMail, mailbox: str, since: int | None) -> tuple[str, int]:
    """The ``changes`` event after *since* (None: counts only) and the modseq to
    continue from (blocking: run in a thread)."""
    boxes = acc.mailboxes()
    if since is None:
        changed: list[dict[str, Any]] = []
        vanished: list[int] = []
        modseq = acc.mailbox(mailbox).highestmodseq
    else:
        ch = acc.changes_since(mailbox, since, limit=PAGE_SIZE)  # at most a page
        changed = [message_json(m, ch.mailbox) for m in ch.changed]
        vanished, modseq = ch.vanished, ch.highestmodseq
    data = {
        "mailbox": mailbox,
        "modseq": modseq,
        "changed": changed,
        "vanished": vanished,
        "boxes": [{"name": b.name, "unseen": b.unseen, "total": b.total} for b in boxes],
    }
    return f"event: changes\ndata: {json.dumps(data, separators=(',', ':'))}\n\n", modseq


@page(api=True)
async def events(request: Request) -> Response:
    st = state_of(request)
    if st.feed is None or st.feed.closed:
        return JSONResponse({"error": "live updates are not available"}, status_code=503)
    session = session_of(request)
    assert session is not None
    acc = st.store.account(account_of(request))
    name = request.query_params.get("name", "Inbox")
    try:
        mailbox = (await asyncio.to_thread(acc.mailbox, name)).name
    except MailboxNotFound:
        return JSONResponse({"error": f"no mailbox {name!r}"}, status_code=404)
    client = request.client.host if request.client else ""
    if not st.streams.available(session.id, client):
        return JSONResponse({"error": "too many live update streams"}, status_code=429)
    return StreamingResponse(
        _stream(st, acc, session.id, client, mailbox, _since(request.query_params.get("since"))),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _stream(
    st: WebmailState, acc: AccountMail, sid: str, client: str, mailbox: str, since: int | None
) -> AsyncIterator[str]:
    """The stream of one page. Its slot is taken here, when the response starts,
    so that a response never started holds none."""
    if not st.streams.acquire(sid, client):
        yield "event: end\ndata: {}\n\n"
        return
    assert st.feed is not None  # events() answers 503 without one
    # Subscribed before the first read: nothing committed after it is missed.
    sub = st.feed.subscribe(acc.name)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            if not await st.sessions.aalive(sid):
                yield "event: end\ndata: {}\n\n"
                return
            try:
                payload, since = await asyncio.to_thread(changes_event, acc, mailbox, since)
            except (MailboxNotFound, StoreError):  # deleted or renamed meanwhile; store closed
                yield "event: end\ndata: {}\n\n"
                return
            yield payload
            while True:
                try:
                    batch = await asyncio.wait_for(sub.next_batch(), HEARTBEAT)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    if not await st.sessions.aalive(sid):
                        break
                    continue
                if batch is None:  # the feed stopped: the server is stopping
                    return
                break  # what changed is read from the store, whatever the batch says
    finally:
        st.streams.release(sid, client)
        sub.close()
