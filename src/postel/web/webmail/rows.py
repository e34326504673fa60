"""Rows of a mailbox's conversation list for live updates (webmail-live.js):
``GET /webmail/rows?name=<mailbox>&thread=<key>...`` answers each thread as the
list page shows it, rendered by the same template macro (threadrow.html), and
the keys that have no message left in that mailbox. The page asks for the
threads an event names, so that a row is never built in two places."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from postel.store import MailboxNotFound, StoreError
from postel.store.message import ThreadSummary
from postel.web.webmail.guard import account_of, page
from postel.web.webmail.state import PREFIX, state_of

MAX_KEYS = 100  # thread keys of one request (a page is 50 rows; the store takes 200)


def thread_keys(values: list[str]) -> list[int] | None:
    """The thread keys asked for, each once; None when one is not a key or
    there are more than :data:`MAX_KEYS`."""
    keys: list[int] = []
    for v in values:
        if not (v.isascii() and v.isdigit()) or len(v) > 19:
            return None
        keys.append(int(v))
    keys = list(dict.fromkeys(keys))
    return keys if len(keys) <= MAX_KEYS else None


@page(api=True)
async def rows(request: Request) -> Response:
    st = state_of(request)
    acc = st.store.account(account_of(request))
    name = request.query_params.get("name", "Inbox")
    keys = thread_keys(request.query_params.getlist("thread"))
    if keys is None:
        return JSONResponse(
            {"error": f"thread: at most {MAX_KEYS} numeric thread keys"}, status_code=400
        )
    try:
        mailbox = (await asyncio.to_thread(acc.mailbox, name)).name
        found: list[ThreadSummary] = await asyncio.to_thread(acc.thread_summaries, mailbox, keys)
    except MailboxNotFound:
        return JSONResponse({"error": f"no mailbox {name!r}"}, status_code=404)
    except StoreError as exc:  # the store closed (the server is stopping)
        return JSONResponse({"error": str(exc)}, status_code=503)
    macro = st.templates.env.get_template("webmail/threadrow.html").module.thread_row  # type: ignore[attr-defined]
    shown = {t.head.thread for t in found}
    return JSONResponse(
        {
            "mailbox": mailbox,
            "rows": [
                {
                    "thread": t.head.thread,
                    "uid": t.head.uid,
                    "html": str(macro(t, mailbox, PREFIX)).strip(),
                }
                for t in found
            ],
            "gone": [k for k in keys if k not in shown],
        },
        headers={"cache-control": "no-store"},
    )
