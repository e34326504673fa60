"""Mailbox management: create, rename, delete (after a confirmation), and
emptying Trash or Junk (after a confirmation). The special mailboxes are never
renamed or deleted; names are checked by postel.store.names and a refused one
is shown on the page with the reason."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.store import InvalidMailboxName, MailboxExists, MailboxNotFound, StoreError
from postel.store.api import AccountMail
from postel.store.names import normalize_mailbox
from postel.web.webmail.guard import account_of, field, flash, page, redirect, render
from postel.web.webmail.mailbox import mailbox_url
from postel.web.webmail.state import EMPTIABLE, PREFIX, SPECIAL, state_of


class MailboxRefused(StoreError):
    """A mailbox change the webmail does not make (the message says why)."""


def checked_name(name: str) -> str:
    """The normalised name of a new mailbox; MailboxRefused saying why not."""
    try:
        norm = normalize_mailbox(name)
    except InvalidMailboxName as exc:
        raise MailboxRefused(f"“{name}” cannot be a mailbox name: {exc}.") from None
    if norm.lower() in (s.lower() for s in SPECIAL):
        raise MailboxRefused(f"“{norm}” is the name of a special mailbox.")
    return norm


def changeable(acc: AccountMail, name: str) -> str:
    """The existing mailbox *name*, if the webmail may rename or delete it."""
    try:
        info = acc.mailbox(name)
    except (MailboxNotFound, InvalidMailboxName):
        raise MailboxRefused(f"There is no mailbox “{name}”.") from None
    if info.name in SPECIAL:
        raise MailboxRefused(f"{info.name} is a special mailbox: it cannot be renamed or deleted.")
    return str(info.name)


def _page(request: Request, acc: AccountMail, status: int = 200, **ctx: Any) -> Response:
    ctx.setdefault("error", "")
    ctx.setdefault("confirm", None)
    return render(
        request,
        "webmail/mailboxes.html",
        status_code=status,
        boxes=acc.mailboxes(),
        current="",
        special=SPECIAL,
        mailbox_url=mailbox_url,
        **ctx,
    )


@page
async def mailboxes(request: Request) -> Response:
    st = state_of(request)
    acc = st.store.account(account_of(request))
    return await asyncio.to_thread(_page, request, acc)


def _act(
    request: Request, acc: AccountMail, action: str, name: str, new: str, sure: bool
) -> Response:
    """Do one management action; the page to show or a redirect."""
    if action == "create":
        norm = checked_name(new)
        try:
            acc.create_mailbox(norm, subscribe=True)  # IMAP clients listing subscriptions see it
        except MailboxExists:
            raise MailboxRefused(f"A mailbox “{norm}” already exists.") from None
        flash(request, f"Mailbox {norm} created.")
        return redirect(f"{PREFIX}/mailboxes")
    if action == "rename":
        old = changeable(acc, name)
        norm = checked_name(new)
        try:
            acc.rename_mailbox(old, norm)
        except MailboxExists as exc:
            raise MailboxRefused(f"Cannot rename {old} to {norm}: {exc}.") from None
        flash(request, f"Mailbox {old} renamed to {norm}.")
        return redirect(f"{PREFIX}/mailboxes")
    if action == "delete":
        old = changeable(acc, name)
        if not sure:
            return _page(request, acc, confirm=("delete", acc.mailbox(old)))
        n = acc.delete_mailbox(old)
        flash(request, f"Mailbox {old} deleted with {n} message{'' if n == 1 else 's'}.")
        return redirect(f"{PREFIX}/mailboxes")
    if action == "empty":
        try:
            info = acc.mailbox(name)
        except (MailboxNotFound, InvalidMailboxName):
            raise MailboxRefused(f"There is no mailbox “{name}”.") from None
        if info.name not in EMPTIABLE:
            raise MailboxRefused(f"Only {' and '.join(EMPTIABLE)} can be emptied.")
        if not sure:
            return _page(request, acc, confirm=("empty", info))
        n = acc.empty_mailbox(info.name)
        flash(request, f"{info.name} emptied: {n} message{'' if n == 1 else 's'} deleted.")
        return redirect(mailbox_url(info.name))
    raise MailboxRefused(f"Unknown action “{action}”.")


@page
async def change(request: Request) -> Response:
    """POST: create, rename, delete, empty; delete and empty ask first."""
    st = state_of(request)
    acc = st.store.account(account_of(request))
    action, name, new = field(request, "action"), field(request, "name"), field(request, "new")
    sure = field(request, "confirm") == "yes"

    def run() -> Response:
        try:
            return _act(request, acc, action, name, new, sure)
        except MailboxRefused as exc:
            return _page(request, acc, 400, error=str(exc), box_name=name, new=new)

    try:
        return await asyncio.to_thread(run)
    except StoreError as exc:
        return PlainTextResponse(f"{exc}\n", status_code=409)
