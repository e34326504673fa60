"""The webmail's answer to a URL or a mailbox it does not have: its own page, 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from postel.web.webmail.guard import page, render


def not_found_page(request: Request, what: str) -> Response:
    return render(request, "webmail/notfound.html", status_code=404, what=what)


@page
async def not_found(request: Request) -> Response:
    """Behind the login like every webmail page, so it tells nobody which URLs exist."""
    return not_found_page(request, f"page {request.url.path}")
