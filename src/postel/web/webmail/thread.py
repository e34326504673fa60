"""One conversation: the messages of a thread in every mailbox, oldest first."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from postel.store import StoreError
from postel.store.message import MailboxInfo
from postel.web.webmail.guard import account_of, page, render
from postel.web.webmail.mailbox import mailbox_url
from postel.web.webmail.notfound import not_found_page
from postel.web.webmail.state import state_of

MAX_SHOWN = 500


@page
async def thread(request: Request) -> Response:
    st = state_of(request)
    acc = st.store.account(account_of(request))
    key = int(request.path_params["thread"])
    back = request.query_params.get("mailbox", "Inbox")
    boxes: list[MailboxInfo] = await asyncio.to_thread(acc.mailboxes)
    try:
        msgs = await asyncio.to_thread(acc.thread_messages, key, limit=MAX_SHOWN + 1)
    except StoreError:
        msgs = []
    if not msgs:
        return not_found_page(request, f"conversation {key}")
    if back not in {b.name for b in boxes}:
        back = "Inbox"
    first = msgs[0]
    return render(
        request,
        "webmail/thread.html",
        boxes=boxes,
        current=back,
        messages=msgs[:MAX_SHOWN],
        more=len(msgs) > MAX_SHOWN,
        subject=first.subject,
        back=mailbox_url(back),
        back_name=back,
        mailbox_url=mailbox_url,
    )
