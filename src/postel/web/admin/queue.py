"""The outgoing queue: entries per recipient, retry now, hold/release, drop."""

from __future__ import annotations

import datetime as dt
import logging

from starlette.requests import Request
from starlette.responses import Response

from postel.queue.db import QueueDB
from postel.queue.errors import EntryNotFound
from postel.web.admin.guard import flash, page, redirect, render
from postel.web.admin.state import admin_state

log = logging.getLogger("postel.web")

ACTIONS = ("retry", "hold", "release", "drop")


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    db = QueueDB.open(st.cfg.datadir)
    try:
        entries = db.entries()
    finally:
        db.close()
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
    db = QueueDB.open(st.cfg.datadir)
    try:
        if what == "retry":
            db.retry(entry_id, dt.datetime.now(dt.UTC))
            message = f"Entry {entry_id} will be delivered now."
        elif what in ("hold", "release"):
            db.set_hold(entry_id, what == "hold")
            message = f"Entry {entry_id} {'held' if what == 'hold' else 'released'}."
        else:
            entry = db.drop(entry_id)
            message = (
                f"Entry {entry_id} dropped: {entry.rcpt} will not get the message; "
                "the sender gets no DSN."
            )
    except EntryNotFound:
        flash(request, f"No queue entry {entry_id} (already delivered or dropped?)", "error")
        return redirect("/admin/queue")
    finally:
        db.close()
    wake = getattr(st.queue, "wake", None)
    if callable(wake):
        wake()
    log.info("queue action", extra={"action": what, "entry": entry_id})
    flash(request, message)
    return redirect("/admin/queue")
