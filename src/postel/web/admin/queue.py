"""The outgoing queue: entries per recipient, retry now, hold/release, drop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.responses import Response

from postel.queue.entries import QueueEntries
from postel.queue.errors import EntryNotFound
from postel.queue.runner import QueueRunner
from postel.web.admin.guard import flash, page, redirect, render
from postel.web.admin.state import AdminState, admin_state

log = logging.getLogger("postel.web")

ACTIONS = ("retry", "hold", "release", "drop")


@contextmanager
def queue_entries(st: AdminState) -> Iterator[QueueEntries]:
    """The running server's entry store; else one opened for the request: the
    data directory's queue, or on PostgreSQL the queue all nodes share."""
    if isinstance(st.queue, QueueRunner):
        yield st.queue.entries
        return
    from postel.wiring import open_queue_entries

    db = open_queue_entries(st.cfg)
    try:
        yield db
    finally:
        db.close()


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    with queue_entries(st) as db:
        entries = await asyncio.to_thread(db.entries)
    return render(request, "admin/queue.html", entries=entries, now=dt.datetime.now(dt.UTC))


@page
async def action(request: Request) -> Response:
    st = admin_state(request)
    what = str(request.path_params["action"])
    try:
        entry_id = int(request.path_params["id"])
    except ValueError:
        entry_id = -1
    if what not in ACTIONS:
        flash(request, f"Unknown queue action {what!r}", "error")
        return redirect("/admin/queue")
    try:
        with queue_entries(st) as db:
            message = await asyncio.to_thread(_act, db, what, entry_id)
    except EntryNotFound:
        flash(request, f"No queue entry {entry_id} (already delivered or dropped?)", "error")
        return redirect("/admin/queue")
    wake = st.queue.wake if st.queue is not None else None
    if callable(wake):
        wake()
    log.info("queue action", extra={"action": what, "entry": entry_id})
    flash(request, message)
    return redirect("/admin/queue")


def _act(db: QueueEntries, what: str, entry_id: int) -> str:
    if what == "retry":
        db.retry(entry_id)
        return f"Entry {entry_id} will be delivered now."
    if what == "hold":
        db.hold(entry_id)
        return f"Entry {entry_id} held."
    if what == "release":
        db.release(entry_id)
        return f"Entry {entry_id} released."
    entry = db.drop(entry_id)
    return (
        f"Entry {entry_id} dropped: {entry.rcpt} will not get the message; the sender gets no DSN."
    )
