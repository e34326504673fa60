"""Mailbox list and the paginated list of its threads (cursor = UID of a thread's
newest message there, stays fast at any depth; store/threads.py)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.store import MailboxNotFound, StoreError
from postel.store.api import AccountMail
from postel.store.message import MailboxInfo, ThreadSummary
from postel.web.webmail.guard import account_of, page, redirect, render
from postel.web.webmail.notfound import not_found_page
from postel.web.webmail.state import EMPTIABLE, PAGE_SIZE, PREFIX, state_of


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
    acc: AccountMail, name: str, before: int | None, after: int | None, size: int = PAGE_SIZE
) -> tuple[list[ThreadSummary], bool, bool]:
    """One page of threads (each as its newest message in the mailbox, newest
    first), and whether older/newer pages exist. *before*: threads whose newest
    message has a smaller UID than this; *after*: the page just above this UID."""
    if after is not None:
        rows = acc.list_threads(name, limit=size + 1, newest_first=False, cursor=after)
        newer = len(rows) > size
        threads = list(reversed(rows[:size]))
        older = True
        if threads:
            older = bool(acc.list_threads(name, limit=1, cursor=threads[-1].head.uid))
        return threads, older, newer
    rows = acc.list_threads(name, limit=size + 1, newest_first=True, cursor=before)
    older = len(rows) > size
    threads = rows[:size]
    newer = False
    if threads and before is not None:
        newer = bool(
            acc.list_threads(name, limit=1, newest_first=False, cursor=threads[0].head.uid)
        )
    return threads, older, newer


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
        threads, older, newer = await asyncio.to_thread(load_page, acc, name, before, after)
        current = (await asyncio.to_thread(acc.mailbox, name)).name
        info = next((b for b in boxes if b.name == current), None)
    except MailboxNotFound:
        return not_found_page(request, f"mailbox {name!r}")
    except StoreError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    return render(
        request,
        "webmail/mailbox.html",
        boxes=boxes,
        current=info.name if info else name,
        info=info,
        threads=threads,
        older_url=mailbox_url(name, before=threads[-1].head.uid) if older and threads else "",
        newer_url=mailbox_url(name, after=threads[0].head.uid) if newer and threads else "",
        newest_url=mailbox_url(name) if (before is not None or after is not None) else "",
        mailbox_url=mailbox_url,
        here=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
        emptiable=EMPTIABLE,
    )
