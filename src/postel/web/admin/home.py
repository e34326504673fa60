"""The admin start page: what is configured and what needs attention."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from postel import dmarcdb, tlsrptdb
from postel.queue.db import QueueDB
from postel.web.admin.guard import page, render
from postel.web.admin.state import admin_state


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    dd = st.cfg.datadir
    with tlsrptdb.open(dd.tlsrpt_db) as tdb:
        tls_reports = tdb.count()
    with dmarcdb.open(dd.dmarcrpt_db) as ddb:
        dmarc_reports = ddb.count()
    qdb = QueueDB.open(dd)
    try:
        entries = qdb.entries()
    finally:
        qdb.close()
    return render(
        request,
        "admin/home.html",
        domains=sorted(st.cfg.domains.domains),
        accounts=len(st.cfg.domains.accounts),
        tls_reports=tls_reports,
        dmarc_reports=dmarc_reports,
        queued=len(entries),
        held=sum(1 for e in entries if e.hold),
    )
