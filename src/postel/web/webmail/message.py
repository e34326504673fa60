"""Reading one message: sanitised HTML in a sandboxed frame, attachments, actions."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.junk.decide import Filing
from postel.junk.filter import message_key
from postel.junk.training import Trainer, verdict_for_flags, verdict_for_move
from postel.store import MessageNotFound, StoreError
from postel.store.api import AccountMail
from postel.web.webmail.guard import account_of, field, flash, page, redirect, render
from postel.web.webmail.mailbox import mailbox_url
from postel.web.webmail.mime import MessageView, leaf, part_bytes, view
from postel.web.webmail.sanitize import frame_document, sanitize_html
from postel.web.webmail.state import PREFIX, state_of

TRASH = "Trash"


def read_csp(allow_remote: bool) -> str:
    """The read page's CSP; the srcdoc frame inherits it (HTML Living Standard §7.1.5),
    so remote images load only after the user asked for them."""
    img = "'self' data: https: http:" if allow_remote else "'self' data:"
    return (
        f"default-src 'self'; img-src {img}; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


async def load(request: Request, msgid: int) -> tuple[AccountMail, bytes] | None:
    st = state_of(request)
    acc = st.store.account(account_of(request))
    try:
        return acc, await asyncio.to_thread(acc.read_message, msgid)
    except (MessageNotFound, StoreError):
        return None


async def load_view(request: Request, msgid: int) -> MessageView | None:
    got = await load(request, msgid)
    return None if got is None else await asyncio.to_thread(view, got[1])


@page
async def read(request: Request) -> Response:
    st = state_of(request)
    msgid = int(request.path_params["msgid"])
    acc = st.store.account(account_of(request))
    try:
        msg = await asyncio.to_thread(acc.get, msgid)
        data = await asyncio.to_thread(acc.read_message, msgid)
    except (MessageNotFound, StoreError):
        return PlainTextResponse("no such message\n", status_code=404)
    v = await asyncio.to_thread(view, data)
    allow_remote = request.query_params.get("remote") == "1"
    frame = ""
    blocked = 0
    if v.html is not None:
        # Off the event loop: a large mail takes a noticeable time to sanitise.
        s = await asyncio.to_thread(
            sanitize_html, v.html, allow_remote=allow_remote, cid=v.cids.get
        )
        frame = frame_document(s, allow_remote=allow_remote)
        blocked = s.remote_blocked
    if not msg.seen:
        await asyncio.to_thread(acc.set_flags, msgid, ["\\Seen"])
        await learn(st.trainer, acc, msgid, verdict_for_flags(msg.mailbox, ["\\Seen"]))
    response = render(
        request,
        "webmail/message.html",
        msg=msg,
        v=v,
        frame=frame,
        remote_blocked=blocked,
        allow_remote=allow_remote,
        back=mailbox_url(msg.mailbox),
        boxes=await asyncio.to_thread(acc.mailboxes),
        conversation=len(await asyncio.to_thread(acc.thread_messages, msg.thread, limit=501)),
        filing=await filing_of(st.trainer, acc.name, data),
    )
    response.headers["content-security-policy"] = read_csp(allow_remote)
    return response


@page
async def part(request: Request) -> Response:
    msgid = int(request.path_params["msgid"])
    index = int(request.path_params["index"])
    got = await load(request, msgid)
    if got is None:
        return PlainTextResponse("no such message\n", status_code=404)
    p = await asyncio.to_thread(leaf, got[1], index)
    if p is None:
        return PlainTextResponse("no such part\n", status_code=404)
    from postel.web.webmail.mime import filename_of

    name = filename_of(p, index)
    body = await asyncio.to_thread(part_bytes, p)
    # Always a download, never rendered in our origin (no stored XSS via attachments).
    return Response(
        body,
        media_type="application/octet-stream",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "content-security-policy": "default-src 'none'; sandbox",
        },
    )


async def filing_of(trainer: Trainer | None, account: str, data: bytes) -> Filing | None:
    """Where the junk filter filed the message at delivery, and why."""
    if trainer is None:
        return None
    junk = trainer.junk
    return await asyncio.to_thread(junk.filing, account, message_key(data))


async def learn(
    trainer: Trainer | None, acc: AccountMail, msgid: int, verdict: bool | None
) -> None:
    """The junk filter learns the user's verdict, if the action was one
    (postel.junk.training)."""
    if trainer is not None and verdict is not None:
        await asyncio.to_thread(trainer.learn_stored, acc.name, acc, msgid, spam=verdict)


@page
async def action(request: Request) -> Response:
    """POST: delete (to Trash; from Trash for good), move, unread."""
    st = state_of(request)
    msgid = int(request.path_params["msgid"])
    acc = st.store.account(account_of(request))
    what = field(request, "action")
    try:
        msg = await asyncio.to_thread(acc.get, msgid)
        back = mailbox_url(msg.mailbox)
        if what == "delete":
            if msg.mailbox == TRASH:
                await asyncio.to_thread(acc.remove, msgid)
                flash(request, "Message deleted.")
            else:
                await asyncio.to_thread(acc.move, msgid, TRASH)
                flash(request, "Message moved to Trash.")
        elif what == "move":
            target = field(request, "mailbox")
            moved = await asyncio.to_thread(acc.move, msgid, target)
            await learn(st.trainer, acc, msgid, verdict_for_move(msg.mailbox, moved.mailbox))
            flash(request, f"Message moved to {target}.")
        elif what == "unread":
            await asyncio.to_thread(acc.set_flags, msgid, (), ["\\Seen"])
        else:
            return PlainTextResponse("unknown action\n", status_code=400)
    except (MessageNotFound, StoreError) as exc:
        flash(request, str(exc), "error")
        return redirect(f"{PREFIX}/")
    return redirect(back)
