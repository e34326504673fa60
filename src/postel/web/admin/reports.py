"""Received TLS reports (RFC 8460) and DMARC aggregate reports: lists, details, charts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from postel import dmarcdb, tlsrptdb
from postel.receivedreports import dmarc_reports, tls_reports
from postel.reportfindings import Settings, anchor
from postel.reportfindings.findings import FailingRow, dmarc_findings, tls_findings
from postel.web.admin.charts import day_chart, org_chart
from postel.web.admin.guard import page, render
from postel.web.admin.state import admin_state

PAGE_SIZE = 50


def _page_args(request: Request) -> tuple[int, str | None]:
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        offset = 0
    domain = request.query_params.get("domain") or None
    return offset, domain


def _pager(found: dmarcdb.Page | tlsrptdb.Page, offset: int, domain: str | None) -> dict[str, Any]:
    """A report list's rows and the context of admin/report_pager.html."""
    return {
        "reports": found.reports,
        "total": found.total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "domain": domain or "",
    }


def _id(request: Request) -> int | None:
    try:
        return int(request.path_params["id"])
    except (KeyError, ValueError):
        return None


@page
async def tlsrpt_list(request: Request) -> Response:
    st = admin_state(request)
    offset, domain = _page_args(request)
    with tls_reports(st.cfg.datadir, st.received) as db:
        found = db.list_reports(domain=domain, limit=PAGE_SIZE, offset=offset)
        days = db.daily_totals(domain=domain)
        orgs = db.organization_totals(domain=domain)
    return render(
        request,
        "admin/tlsrpt_list.html",
        **_pager(found, offset, domain),
        day_chart=day_chart(
            [(d.day, d.successes, d.failures) for d in days], "TLS sessions per day"
        ),
        org_chart=org_chart(
            [(o.organization, o.successes, o.failures) for o in orgs],
            "TLS sessions per reporting organisation",
        ),
    )


@page
async def tlsrpt_detail(request: Request) -> Response:
    st = admin_state(request)
    rid = _id(request)
    with tls_reports(st.cfg.datadir, st.received) as db:
        report = db.get(rid) if rid is not None else None
    if report is None:
        return render(request, "admin/notfound.html", status_code=404, what="TLS report")
    data = report.report_dict()
    policies: list[dict[str, Any]] = [p for p in data.get("policies", []) if isinstance(p, dict)]
    rows = []
    for p in policies:
        pol = p.get("policy", {})
        summ = p.get("summary", {})
        label = f"{pol.get('policy-type', '?')} {pol.get('policy-domain', '')}"
        mx = pol.get("mx-host") or []
        if mx:
            label += " (" + ", ".join(str(m) for m in mx) + ")"
        rows.append(
            (
                label,
                int(summ.get("total-successful-session-count", 0) or 0),
                int(summ.get("total-failure-session-count", 0) or 0),
            )
        )
    # Each failure on one of our policies links to the DNS check explaining it.
    found = tls_findings(
        report.id, report.organization, report.start[:10], data, Settings.from_config(st.cfg).ours
    )
    checks = {f.policy_domain: (f.check_domain, f.section) for f in found}
    return render(
        request,
        "admin/tlsrpt_detail.html",
        report=report,
        policies=policies,
        checks=checks,
        anchor=anchor,
        chart=org_chart(rows, f"Sessions per policy of report {report.report_id}"),
        raw=_pretty(report.json),
    )


def _pretty(text: str) -> str:
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _date(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


@page
async def dmarc_list(request: Request) -> Response:
    st = admin_state(request)
    offset, domain = _page_args(request)
    with dmarc_reports(st.cfg.datadir, st.received) as db:
        found = db.list_reports(domain=domain, limit=PAGE_SIZE, offset=offset)
        days = db.daily_totals(domain=domain)
        orgs = db.organization_totals(domain=domain)
    return render(
        request,
        "admin/dmarc_list.html",
        **_pager(found, offset, domain),
        date=_date,
        day_chart=day_chart(
            [(d.day, d.counts.dmarc_pass, d.counts.dmarc_fail) for d in days],
            "Messages passing and failing DMARC per day",
        ),
        org_chart=org_chart(
            [(o.organization, o.counts.dmarc_pass, o.counts.dmarc_fail) for o in orgs],
            "Messages passing and failing DMARC per reporting organisation",
        ),
    )


@page
async def dmarc_detail(request: Request) -> Response:
    st = admin_state(request)
    rid = _id(request)
    with dmarc_reports(st.cfg.datadir, st.received) as db:
        report = db.get(rid) if rid is not None else None
        failing = (
            []
            if report is None
            else db.failing_records(report=report.id, limit=max(report.record_count, 1))
        )
    if report is None:
        return render(request, "admin/notfound.html", status_code=404, what="DMARC report")
    data = report.report_dict()
    records = [r for r in data.get("records", []) if isinstance(r, dict)]
    c = report.counts
    chart = org_chart(
        [
            ("DMARC", c.dmarc_pass, c.dmarc_fail),
            ("DKIM", c.dkim_pass, c.dkim_fail),
            ("SPF", c.spf_pass, c.spf_fail),
        ],
        f"Messages of report {report.report_id}",
    )
    # Rows failing DMARC from addresses we do not send from link to the SPF check.
    settings = Settings.from_config(st.cfg)
    rows = [FailingRow.of(r) for r in failing]
    unknown = {f.source_ip: f for f in dmarc_findings(rows, settings.ours, settings.known)}
    return render(
        request,
        "admin/dmarc_detail.html",
        report=report,
        unknown=unknown,
        anchor=anchor,
        published=data.get("policy_published", {}),
        records=records,
        chart=chart,
        date=_date,
        raw=_pretty(report.json),
    )
