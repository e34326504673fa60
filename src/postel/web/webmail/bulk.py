"""Actions on the conversations selected in a mailbox list (one POST form, CSRF
checked by guard.page): mark read or unread, move, delete. A selected row stands
for its whole thread in that mailbox (store/threads.py)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from postel.junk.training import Trainer, verdict_for_flags, verdict_for_move
from postel.store import StoreError
from postel.store.api import AccountMail
from postel.store.message import Message
from postel.web.webmail.guard import account_of, field, flash, form_of, page, redirect
from postel.web.webmail.mailbox import mailbox_url
from postel.web.webmail.state import PREFIX, state_of

TRASH = "Trash"
MAX_SELECTED = 500  # rows of one list page are 50
MAX_MESSAGES = 10_000  # messages touched by one action


class BulkError(StoreError):
    """A bulk action that cannot be done (the message says what)."""


def selected(acc: AccountMail, box: str, msgids: list[int]) -> list[Message]:
    """The messages of the threads of *msgids* in mailbox *box* (rows of the list
    are each thread's newest message there)."""
    out: dict[int, Message] = {}
    for msgid in msgids:
        head = acc.get(msgid)
        if head.mailbox != acc.mailbox(box).name:
            continue  # moved meanwhile (another window, IMAP)
        for m in acc.thread_messages(head.thread, mailbox=box, limit=MAX_MESSAGES):
            out[m.msgid] = m
        if len(out) >= MAX_MESSAGES:
            raise BulkError(f"more than {MAX_MESSAGES} messages selected; select fewer")
    return list(out.values())


def apply(
    acc: AccountMail,
    action: str,
    box: str,
    target: str,
    msgs: list[Message],
    trainer: Trainer | None = None,
) -> str:
    """Do *action* to *msgs*; what happened, for the page. The junk filter
    learns from moves and reads (postel.junk.training)."""

    def learn(msgid: int, verdict: bool | None) -> None:
        if trainer is not None and verdict is not None:
            trainer.learn_stored(acc.name, acc, msgid, spam=verdict)

    n = len(msgs)
    what = f"{n} message{'' if n == 1 else 's'}"
    if action == "read":
        verdict = verdict_for_flags(box, ["\\Seen"], sum(1 for m in msgs if not m.seen))
        for m in msgs:
            if not m.seen:
                acc.set_flags(m.msgid, ["\\Seen"])
                learn(m.msgid, verdict)
        return f"{what} marked read."
    if action == "unread":
        for m in msgs:
            if m.seen:
                acc.set_flags(m.msgid, (), ["\\Seen"])
        return f"{what} marked unread."
    if action == "delete":
        if acc.mailbox(box).name == TRASH:
            for m in msgs:
                acc.remove(m.msgid)
            return f"{what} deleted for good."
        action, target = "move", TRASH
    if action == "move":
        name = acc.mailbox(target).name  # MailboxNotFound when it does not exist
        verdict = verdict_for_move(acc.mailbox(box).name, name)
        for m in msgs:
            acc.move(m.msgid, name)
            learn(m.msgid, verdict)
        return f"{what} moved to {name}."
    raise BulkError(f"unknown action {action!r}")


def back_url(request: Request, box: str) -> str:
    """Where to return: the list page the form was on, else the mailbox."""
    back = field(request, "back")
    if back.startswith(PREFIX + "/mailbox?") and "\\" not in back:
        return back
    return mailbox_url(box)


@page
async def bulk(request: Request) -> Response:
    st = state_of(request)
    acc = st.store.account(account_of(request))
    box = field(request, "box") or "Inbox"
    action = field(request, "action")
    values = [v for v in form_of(request).getlist("msg") if isinstance(v, str)]
    back = back_url(request, box)
    if not values:
        flash(request, "Select at least one conversation first.", "error")
        return redirect(back)
    try:
        if len(values) > MAX_SELECTED:
            raise BulkError(f"more than {MAX_SELECTED} conversations selected")
        msgids = [int(v) for v in values]
        msgs = await asyncio.to_thread(selected, acc, box, msgids)
        target = field(request, "target")
        done = await asyncio.to_thread(apply, acc, action, box, target, msgs, st.trainer)
    except ValueError:
        flash(request, "The selection is not valid; reload the page.", "error")
    except StoreError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, done)
    return redirect(back)
