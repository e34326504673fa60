"""The admin's answer to a URL it does not have: its own styled page, 404."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from postel.web.admin.guard import page, render


@page
async def not_found(request: Request) -> Response:
    """Behind the login like every admin page, so it tells nobody which URLs exist."""
    return render(request, "admin/notfound.html", status_code=404, what="page")
