"""Mailbox list and the paginated message list (cursor = UID, stays fast at any depth)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.store import MailboxNotFound, StoreError
from postel.store.message import MailboxInfo, Message
from postel.web.webmail.guard import account_of, page, redirect, render
from postel.web.webmail.state import PAGE_SIZE, PREFIX, state_of


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 0 else None


def mailbox_url(name: str, **params: int) -> str:
    from urllib.parse import urlencode

    return f"{PREFIX}/mailbox?" + urlencode({"name": name, **params})


def load_page(
    acc: Any, name: str, before: int | None, after: int | None, size: int = PAGE_SIZE
) -> tuple[list[Message], bool, bool]:
    """One page newest first, and whether older/newer pages exist. *before*: messages
    with smaller UIDs than this; *after*: the page just above this UID."""
    if after is not None:
        rows = acc.list_messages(name, limit=size + 1, newest_first=False, cursor=after)
        newer = len(rows) > size
        msgs = list(reversed(rows[:size]))
        older = True
        if msgs:
            older = bool(acc.list_messages(name, limit=1, cursor=msgs[-1].uid))
        return msgs, older, newer
    rows = acc.list_messages(name, limit=size + 1, newest_first=True, cursor=before)
    older = len(rows) > size
    msgs = rows[:size]
    newer = False
    if msgs and before is not None:
        newer = bool(acc.list_messages(name, limit=1, newest_first=False, cursor=msgs[0].uid))
    return msgs, older, newer


@page
async def index(request: Request) -> Response:
    return redirect(mailbox_url("Inbox"))


@page
async def mailbox(request: Request) -> Response:
    st = state_of(request)
    account = account_of(request)
    name = request.query_params.get("name", "Inbox")
    before = _int(request.query_params.get("before"))
    after = _int(request.query_params.get("after"))
    acc = st.store.account(account)
    try:
        boxes: list[MailboxInfo] = await asyncio.to_thread(acc.mailboxes)
        msgs, older, newer = await asyncio.to_thread(load_page, acc, name, before, after)
        info = next((b for b in boxes if b.name == acc.mailbox(name).name), None)
    except (MailboxNotFound, StoreError) as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    return render(
        request,
        "webmail/mailbox.html",
        boxes=boxes,
        current=info.name if info else name,
        info=info,
        messages=msgs,
        older_url=mailbox_url(name, before=msgs[-1].uid) if older and msgs else "",
        newer_url=mailbox_url(name, after=msgs[0].uid) if newer and msgs else "",
        newest_url=mailbox_url(name) if (before is not None or after is not None) else "",
        mailbox_url=mailbox_url,
    )
