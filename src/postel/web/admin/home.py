"""The admin start page: what is configured and what needs attention."""

from __future__ import annotations

import asyncio
import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from postel.datadir import DataDir
from postel.receivedreports import ReceivedReports, dmarc_reports, tls_reports
from postel.reportfindings import Findings, Settings, anchor, gather
from postel.web.admin.guard import page, render
from postel.web.admin.state import admin_state

# How far back the home page looks for problems in received reports.
FINDINGS_DAYS = 7


def _reports(
    datadir: DataDir, shared: ReceivedReports | None, settings: Settings, since: str
) -> tuple[Findings, int, int]:
    """The findings of the reports since *since*, and how many of each kind are
    stored: each database opened once, off the event loop."""
    with tls_reports(datadir, shared) as tdb, dmarc_reports(datadir, shared) as ddb:
        return gather(tdb, ddb, settings, day_since=since), tdb.count(), ddb.count()


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    dd = st.cfg.datadir
    since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=FINDINGS_DAYS)).isoformat()
    findings, tls_reports, dmarc_reports = await asyncio.to_thread(
        _reports, dd, st.received, Settings.from_config(st.cfg), since
    )
    from postel.web.admin.queue import queue_entries

    with queue_entries(st) as qdb:
        entries = await asyncio.to_thread(qdb.entries)
    from postel.certcheck import check_listeners

    certificates = await asyncio.to_thread(check_listeners, st.cfg)
    return render(
        request,
        "admin/home.html",
        certificates=certificates,
        domains=sorted(st.cfg.domains.domains),
        accounts=len(st.cfg.domains.accounts),
        tls_reports=tls_reports,
        dmarc_reports=dmarc_reports,
        queued=len(entries),
        held=sum(1 for e in entries if e.hold),
        findings=findings,
        findings_days=FINDINGS_DAYS,
        anchor=anchor,
    )
