"""Compose, reply, forward, drafts; sending through the submitter (queue)."""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import logging
import os
from email.message import EmailMessage, Message

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from postel.errors import SMTPReplyError
from postel.store import MessageNotFound, StoreError
from postel.store.msgfile import write_message
from postel.web.webmail.build import (
    ComposeError,
    Draft,
    Upload,
    build_message,
    check_recipient_count,
    draft_from_view,
    forward_draft,
    recipients,
    reply_draft,
)
from postel.web.webmail.guard import (
    MAX_UPLOAD,
    account_of,
    field,
    flash,
    page,
    redirect,
    render,
    session_of,
)
from postel.web.webmail.mailbox import mailbox_url
from postel.web.webmail.message import load
from postel.web.webmail.mime import filename_of, leaf, part_bytes, view
from postel.web.webmail.state import PREFIX, WebmailState, state_of

log = logging.getLogger("postel.web")

DRAFTS = "Drafts"
SENT = "Sent"


def own_addresses(st: WebmailState, account: str) -> list[str]:
    acc = st.cfg.domains.accounts.get(account)
    return list(acc.addresses) if acc else []


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


async def _keep_list(request: Request, msgid: int) -> list[tuple[str, str]]:
    """(keep value, label) for the attachments of message *msgid*."""
    got = await load(request, msgid)
    if got is None:
        return []
    v = await asyncio.to_thread(view, got[1])
    return [(f"{msgid}:{a.index}", f"{a.filename} ({a.size} bytes)") for a in v.attachments]


def _form(
    request: Request,
    d: Draft,
    *,
    error: str = "",
    draft_id: int | None = None,
    keep: list[tuple[str, str]] | None = None,
    replied: int | None = None,
    status_code: int = 200,
) -> Response:
    st = state_of(request)
    return render(
        request,
        "webmail/compose.html",
        status_code=status_code,
        d=d,
        error=error,
        draft_id=draft_id or "",
        replied=replied or "",
        keep=keep or [],
        from_choices=own_addresses(st, account_of(request)),
    )


@page
async def compose_form(request: Request) -> Response:
    st = state_of(request)
    account = account_of(request)
    own = own_addresses(st, account)
    session = session_of(request)
    login_addr = str(session.data.get("address") or "") if session is not None else ""
    from_addr = next((a for a in own if a.lower() == login_addr), own[0] if own else "")
    q = request.query_params
    d = Draft(from_addr=from_addr, to=q.get("to", ""))
    keep: list[tuple[str, str]] = []
    draft_id = replied = None
    for key in ("reply", "replyall", "forward", "draft"):
        msgid = _int(q.get(key))
        if msgid is None:
            continue
        got = await load(request, msgid)
        if got is None:
            flash(request, "That message no longer exists.", "error")
            return redirect(f"{PREFIX}/")
        v = await asyncio.to_thread(view, got[1])
        lowered = {a.lower() for a in own}
        if key in ("reply", "replyall"):
            d = reply_draft(v, lowered, all_recipients=key == "replyall", from_addr=from_addr)
            replied = msgid
        elif key == "forward":
            d = forward_draft(v, from_addr=from_addr)
            keep = await _keep_list(request, msgid)
        else:
            d = draft_from_view(v, from_addr=from_addr)
            keep = await _keep_list(request, msgid)
            draft_id = msgid
        break
    d.keep = [k for k, _ in keep]
    return _form(request, d, draft_id=draft_id, keep=keep, replied=replied)


async def _carried(request: Request, values: list[str]) -> list[EmailMessage | Upload]:
    out: list[EmailMessage | Upload] = []
    cache: dict[int, bytes] = {}
    for value in values:
        msgid_s, _, index_s = value.partition(":")
        msgid, index = _int(msgid_s), _int(index_s)
        if msgid is None or index is None:
            raise ComposeError(f"attachment reference {value!r} is not valid")
        if msgid not in cache:
            got = await load(request, msgid)
            if got is None:
                raise ComposeError(f"the message with attachment {value} no longer exists")
            cache[msgid] = got[1]
        p: Message | None = await asyncio.to_thread(leaf, cache[msgid], index)
        if p is None:
            raise ComposeError(f"attachment {value} no longer exists")
        if p.get_content_type() == "message/rfc822":
            inner = p.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
                out.append(inner[0])
                continue
        out.append(Upload(filename_of(p, index), p.get_content_type(), part_bytes(p)))
    return out


async def _uploads(request: Request) -> list[Upload]:
    form = request.state.form
    out: list[Upload] = []
    total = 0
    for f in form.getlist("attachments"):
        if not isinstance(f, UploadFile) or not f.filename:
            continue
        data = await f.read()
        total += len(data)
        if total > MAX_UPLOAD:
            raise ComposeError(f"attachments are larger than {MAX_UPLOAD // (1024 * 1024)} MB")
        out.append(Upload(os.path.basename(f.filename), f.content_type or "", data))
    return out


def _serialise(msg: EmailMessage) -> bytes:
    try:
        return msg.as_bytes(policy=email.policy.SMTP)
    except UnicodeEncodeError:
        return msg.as_bytes(policy=email.policy.SMTPUTF8)


@page
async def compose_submit(request: Request) -> Response:
    st = state_of(request)
    account = account_of(request)
    form = request.state.form
    d = Draft(
        from_addr=field(request, "from"),
        to=field(request, "to"),
        cc=field(request, "cc"),
        bcc=field(request, "bcc"),
        subject=field(request, "subject"),
        body=field(request, "body", strip=False),
        in_reply_to=field(request, "in_reply_to"),
        references=field(request, "references"),
        requiretls=field(request, "requiretls") == "on",
        keep=[v for v in form.getlist("keep") if isinstance(v, str)],
    )
    draft_id = _int(field(request, "draft_id"))
    replied = _int(field(request, "replied"))
    what = field(request, "action") or "send"
    own = own_addresses(st, account)

    async def again(error: str, code: int = 400) -> Response:
        keep: list[tuple[str, str]] = []
        for v in d.keep:
            keep.append((v, v))
        return _form(
            request, d, error=error, draft_id=draft_id, keep=keep, replied=replied, status_code=code
        )

    if d.from_addr.lower() not in {a.lower() for a in own}:
        return await again(f"From: {d.from_addr!r} is not an address of your account")
    full_name = st.cfg.domains.accounts[account].full_name
    acc = st.store.account(account)
    try:
        rcpts = recipients(d)
        if what == "send" and not rcpts:
            raise ComposeError("add at least one recipient")
        if what == "send":
            check_recipient_count(rcpts, st.cfg.static.limits.max_recipients)
        carried = await _carried(request, d.keep)
        uploads = await _uploads(request)
        msg = build_message(
            d,
            from_name=full_name,
            hostname=st.cfg.static.hostname,
            attachments=uploads,
            carried=carried,
            bcc_header=what != "send",
        )
        data = await asyncio.to_thread(_serialise, msg)
    except ComposeError as exc:
        return await again(str(exc))

    if what == "save":
        saved = await asyncio.to_thread(acc.append, DRAFTS, data, ["\\Seen", "\\Draft"])
        await _remove_draft(acc, draft_id)
        flash(request, "Draft saved.")
        return redirect(f"{PREFIX}/compose?draft={saved.msgid}")

    if st.submitter is None:
        return await again("sending is not available on this server", 503)
    from postel.smtpserver.submission import dkim_sign

    try:
        signed = await asyncio.to_thread(dkim_sign, st.cfg, data)
    except Exception as exc:
        log.error("dkim signing failed", extra={"account": account, "err": repr(exc)})
        return await again("the message could not be DKIM-signed; try again later", 500)
    path = st.cfg.datadir.tmp / f"webmail-{os.getpid()}-{os.urandom(8).hex()}"
    try:
        await asyncio.to_thread(write_message, path, b"", signed)
        await st.submitter(account, d.from_addr, rcpts, path, d.requiretls)
    except SMTPReplyError as exc:
        log.info("webmail send refused", extra={"account": account, "reason": exc.text})
        return await again(f"Not sent: {exc.line()}")
    except Exception as exc:
        log.error("webmail send failed", extra={"account": account, "err": repr(exc)})
        return await again("Not sent: temporary failure, try again later", 500)
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    log.info(
        "webmail message sent",
        extra={"account": account, "rcpts": len(rcpts), "requiretls": d.requiretls},
    )
    try:
        await asyncio.to_thread(acc.append, SENT, signed, ["\\Seen"], requiretls=d.requiretls)
        await _remove_draft(acc, draft_id)
        if replied is not None:
            with contextlib.suppress(MessageNotFound, StoreError):
                await asyncio.to_thread(acc.set_flags, replied, ["\\Answered"])
    except StoreError as exc:
        log.error("keeping a sent copy failed", extra={"account": account, "err": str(exc)})
        flash(request, f"Sent, but no copy was kept in Sent: {exc}", "warning")
        return redirect(mailbox_url("Inbox"))
    flash(request, "Message sent" + (" (REQUIRETLS)." if d.requiretls else "."))
    return redirect(mailbox_url("Inbox"))


async def _remove_draft(acc: object, draft_id: int | None) -> None:
    if draft_id is None:
        return
    try:
        msg = await asyncio.to_thread(acc.get, draft_id)  # type: ignore[attr-defined]
        if msg.mailbox == DRAFTS:
            await asyncio.to_thread(acc.remove, draft_id)  # type: ignore[attr-defined]
    except (MessageNotFound, StoreError):
        pass
