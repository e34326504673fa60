"""URL table of the admin (mounted at /admin)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from postel.web.admin import (
    accounts,
    certificates,
    dnsbl,
    domains,
    home,
    login,
    notfound,
    outgoing,
    queue,
    reports,
)


def routes() -> list[BaseRoute]:
    return [
        Route("/", home.index),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/domains", domains.index),
        Route("/domains/add", domains.add, methods=["POST"]),
        Route("/domains/{domain}", domains.detail),
        Route("/domains/{domain}/remove", domains.remove, methods=["POST"]),
        Route("/domains/{domain}/dns", domains.dns_records),
        Route("/domains/{domain}/check", domains.dns_check),
        Route("/accounts", accounts.index),
        Route("/accounts/add", accounts.add, methods=["POST"]),
        Route("/accounts/{name}/remove", accounts.remove, methods=["POST"]),
        Route("/tlsrpt", reports.tlsrpt_list),
        Route("/tlsrpt/{id:int}", reports.tlsrpt_detail),
        Route("/dmarc", reports.dmarc_list),
        Route("/dmarc/{id:int}", reports.dmarc_detail),
        Route("/tlsresults", outgoing.results),
        Route("/suppressions", outgoing.suppressions),
        Route("/suppressions/add", outgoing.suppress, methods=["POST"]),
        Route("/suppressions/remove", outgoing.unsuppress, methods=["POST"]),
        Route("/mtasts", outgoing.mtasts_cache),
        Route("/queue", queue.index),
        Route("/certificates", certificates.index),
        Route("/dnsbl", dnsbl.index),
        Route("/queue/{id}/{action}", queue.action, methods=["POST"]),
        # Last: every other URL below /admin gets the admin's own "not found" page.
        Route("/{path:path}", notfound.not_found, methods=["GET", "HEAD", "POST"]),
    ]
