"""Search over the whole account (postel.store AccountStore.search, FTS5), newest
first, paged by message id."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from postel.store import BadQuery
from postel.store.message import MailboxInfo, Message
from postel.web.webmail.guard import account_of, page, render
from postel.web.webmail.mailbox import _int, mailbox_url
from postel.web.webmail.state import PAGE_SIZE, PREFIX, state_of


def search_url(q: str, before: int | None = None) -> str:
    params: dict[str, str | int] = {"q": q}
    if before is not None:
        params["before"] = before
    return f"{PREFIX}/search?" + urlencode(params)


@page
async def search(request: Request) -> Response:
    st = state_of(request)
    acc = st.store.account(account_of(request))
    q = request.query_params.get("q", "").strip()
    before = _int(request.query_params.get("before"))
    error = ""
    found: list[Message] = []
    boxes: list[MailboxInfo] = await asyncio.to_thread(acc.mailboxes)
    if q:
        try:
            found = await asyncio.to_thread(acc.search, q, before=before, limit=PAGE_SIZE + 1)
        except BadQuery as exc:
            error = f"This search cannot be run: {exc}"
    complete = await asyncio.to_thread(lambda: acc.search_complete)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    return render(
        request,
        "webmail/search.html",
        status_code=400 if error else 200,
        boxes=boxes,
        current="",
        q=q,
        error=error,
        complete=complete,
        messages=found,
        older_url=search_url(q, found[-1].msgid) if more and found else "",
        first_url=search_url(q) if before is not None else "",
        mailbox_url=mailbox_url,
    )
