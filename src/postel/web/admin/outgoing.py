"""Outgoing TLS results (and which were reported), the report suppression list,
and the cached MTA-STS policies of recipient domains."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.responses import Response

from postel.config.names import check_address
from postel.tlsrptresultdb.api import TLSResults
from postel.tlsrptresultdb.db import ResultDB
from postel.web.admin.guard import field, flash, page, redirect, render
from postel.web.admin.state import admin_state

log = logging.getLogger("postel.web")


@contextmanager
def _results_db(request: Request) -> Iterator[TLSResults]:
    """The server's TLS results (tlsrptresult.db, whose methods take its lock:
    the delivery recorder writes from a thread; or shared in PostgreSQL); the
    data directory's opened for the request otherwise."""
    st = admin_state(request)
    if st.resultdb is not None:
        yield st.resultdb
        return
    db = ResultDB.open(st.cfg.datadir.tlsrptresult_db)
    try:
        yield db
    finally:
        db.close()


@page
async def results(request: Request) -> Response:
    with _results_db(request) as db:
        rows = list(reversed(db.rows()))[:500]
    view = []
    for r in rows:
        ok = sum(p.summary.total_successful_session_count for p in r.results)
        bad = sum(p.summary.total_failure_session_count for p in r.results)
        types = sorted({str(p.policy.policy_type) for p in r.results})
        view.append((r, ok, bad, types))
    return render(request, "admin/tlsresults.html", rows=view)


@page
async def suppressions(request: Request) -> Response:
    with _results_db(request) as db:
        rows = db.suppressions()
    now = dt.datetime.now(dt.UTC)
    return render(request, "admin/suppressions.html", rows=rows, now=now)


@page
async def suppress(request: Request) -> Response:
    try:
        address = check_address(field(request, "address")).lower()  # as the list stores it
    except ValueError as exc:
        flash(request, f"Not added: {exc}", "error")
        return redirect("/admin/suppressions")
    try:
        days = int(field(request, "days") or "30")
    except ValueError:
        days = 30
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=max(1, min(days, 3650)))
    with _results_db(request) as db:
        db.suppress(address, until, field(request, "comment"), manual=True)
    log.info("report address suppressed", extra={"address": address})
    flash(request, f"No TLS reports go to {address} until {until:%Y-%m-%d}.")
    return redirect("/admin/suppressions")


@page
async def unsuppress(request: Request) -> Response:
    address = field(request, "address")
    with _results_db(request) as db:
        removed = db.unsuppress(address)
    flash(
        request,
        f"{address} removed from the suppression list."
        if removed
        else f"{address} was not on the list.",
        "ok" if removed else "error",
    )
    return redirect("/admin/suppressions")


@page
async def mtasts_cache(request: Request) -> Response:
    from postel.mtastsdb import MTASTSDB

    st = admin_state(request)
    if st.mtastsdb is not None:  # the server's cache (shared on PostgreSQL)
        rows = st.mtastsdb.rows()
    else:
        db = MTASTSDB.open(st.cfg.datadir.mtasts_db)
        try:
            rows = db.rows()
        finally:
            db.close()
    now = dt.datetime.now(dt.UTC)
    return render(request, "admin/mtasts.html", rows=rows, now=now)
