"""Domains: list, add, remove; per domain the DNS records to create and the DNS check."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets

from starlette.requests import Request
from starlette.responses import Response

from postel.config.names import check_domain
from postel.dnscheck import check_domain as run_dns_check
from postel.dnscheck import options_from_config
from postel.dnsrecords import domain_records, host_records, zone_text
from postel.reportfindings import anchor
from postel.web.admin.configedit import apply_domains_edit
from postel.web.admin.domainedit import add_domain, domain_users, remove_domain
from postel.web.admin.guard import field, flash, page, redirect, render
from postel.web.admin.state import admin_state
from postel.web.errors import EditError

log = logging.getLogger("postel.web")


def _domain_or_404(request: Request) -> str | None:
    domain = str(request.path_params["domain"]).lower()
    return domain if domain in admin_state(request).cfg.domains.domains else None


def _not_found(request: Request, what: str) -> Response:
    return render(request, "admin/notfound.html", status_code=404, what=what)


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    rows = []
    for name, dom in sorted(st.cfg.domains.domains.items()):
        accounts = [a for a, acc in st.cfg.domains.accounts.items() if acc.domain == name]
        rows.append((name, dom, accounts))
    return render(
        request, "admin/domains.html", rows=rows, accounts=sorted(st.cfg.domains.accounts)
    )


def _new_policy_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + secrets.token_hex(2)


@page
async def add(request: Request) -> Response:
    st = admin_state(request)
    cfg = st.cfg
    try:
        domain = check_domain(field(request, "domain"))
    except ValueError as exc:
        flash(request, f"Not added: {exc}", "error")
        return redirect("/admin/domains")
    report_account = field(request, "report_account")
    if report_account and report_account not in cfg.domains.accounts:
        flash(request, f"Not added: no account {report_account!r}", "error")
        return redirect("/admin/domains")
    async with st.edit_lock:
        if domain in cfg.domains.domains:
            flash(request, f"Not added: domain {domain} already exists", "error")
            return redirect("/admin/domains")
        selectors: list[tuple[str, str, str]] = []
        if field(request, "dkim") == "on":
            from postel.quickstart import write_dkim_keys

            year = dt.datetime.now(dt.UTC).year
            try:
                selectors = await asyncio.to_thread(write_dkim_keys, cfg.dir, domain, year)
            except (OSError, FileExistsError) as exc:
                flash(request, f"Not added: writing DKIM keys: {exc}", "error")
                return redirect("/admin/domains")
        policy_id = _new_policy_id() if field(request, "mta_sts") == "on" else ""
        try:
            apply_domains_edit(
                cfg,
                lambda text: add_domain(
                    text,
                    domain,
                    description=field(request, "description"),
                    selectors=selectors,
                    report_account=report_account,
                    mta_sts_id=policy_id,
                    mx=[cfg.static.hostname],
                ),
            )
        except EditError as exc:
            flash(request, f"Not added: {exc}", "error")
            return redirect("/admin/domains")
    log.info("domain added", extra={"domain": domain})
    flash(request, f"Domain {domain} added. Now create its DNS records.")
    return redirect(f"/admin/domains/{domain}/dns")


@page
async def detail(request: Request) -> Response:
    domain = _domain_or_404(request)
    if domain is None:
        return _not_found(request, "domain")
    st = admin_state(request)
    dom = st.cfg.domains.domains[domain]
    accounts = sorted(
        (name, acc)
        for name, acc in st.cfg.domains.accounts.items()
        if acc.domain == domain or any(a.endswith("@" + domain) for a in acc.addresses)
    )
    return render(request, "admin/domain.html", domain=domain, dom=dom, accounts=accounts)


@page
async def remove(request: Request) -> Response:
    domain = _domain_or_404(request)
    if domain is None:
        return _not_found(request, "domain")
    st = admin_state(request)
    async with st.edit_lock:
        users = domain_users(st.cfg.domains, domain)
        if users:
            flash(request, f"Not removed: {domain} is still used by {', '.join(users)}", "error")
            return redirect(f"/admin/domains/{domain}")
        try:
            apply_domains_edit(st.cfg, lambda text: remove_domain(text, domain))
        except EditError as exc:
            flash(request, f"Not removed: {exc}", "error")
            return redirect(f"/admin/domains/{domain}")
    log.info("domain removed", extra={"domain": domain})
    flash(request, f"Domain {domain} removed (its DKIM key files are kept).")
    return redirect("/admin/domains")


def _dnssec_hint(request: Request) -> bool:
    """Show TLSA records uncommented unless told the zone is unsigned."""
    return request.query_params.get("dnssec", "yes") != "no"


@page
async def dns_records(request: Request) -> Response:
    domain = _domain_or_404(request)
    if domain is None:
        return _not_found(request, "domain")
    cfg = admin_state(request).cfg
    dnssec = _dnssec_hint(request)
    try:
        hrecs = host_records(cfg, dnssec=dnssec)
        drecs = domain_records(cfg, domain)
    except (OSError, ValueError) as exc:
        return render(request, "admin/error.html", status_code=500, message=str(exc))
    return render(
        request,
        "admin/dnsrecords.html",
        domain=domain,
        dnssec=dnssec,
        host_records=hrecs,
        domain_records=drecs,
        zone=zone_text(hrecs + drecs),
    )


@page
async def dns_check(request: Request) -> Response:
    domain = _domain_or_404(request)
    if domain is None:
        return _not_found(request, "domain")
    st = admin_state(request)
    opts = st.check_options or options_from_config(st.cfg)
    started = dt.datetime.now(dt.UTC)
    try:
        sections = await asyncio.wait_for(
            run_dns_check(st.cfg, domain, st.resolver, opts), timeout=opts.timeout * 6
        )
    except TimeoutError:
        return render(
            request, "admin/error.html", status_code=504, message="The DNS check took too long."
        )
    took = (dt.datetime.now(dt.UTC) - started).total_seconds()
    return render(
        request,
        "admin/dnscheck.html",
        domain=domain,
        sections=sections,
        errors=sum(len(s.errors) for s in sections),
        warnings=sum(len(s.warnings) for s in sections),
        took=took,
        anchor=anchor,
    )
