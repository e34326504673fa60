"""The webmail's settings page: how to set up a mail app for this account, and
an Apple configuration profile (.mobileconfig) to download (docs/client-setup.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from postel.clientsetup import BadSetupRequest, client_services
from postel.clientsetup import mobileconfig as mc
from postel.web.webmail.guard import account_of, page, render
from postel.web.webmail.state import state_of

PROFILE_PATH = "/settings/mail.mobileconfig"


def _mail_account(request: Request) -> mc.MailAccount:
    cfg = state_of(request).cfg
    name = account_of(request)
    acc = cfg.domains.accounts[name]
    return mc.MailAccount(address=acc.addresses[0], full_name=acc.full_name, account=name)


@page
async def settings(request: Request) -> Response:
    st = state_of(request)
    return render(
        request,
        "webmail/settings.html",
        services=client_services(st.cfg.static),
        address=_mail_account(request).address,
        profile_path=PROFILE_PATH,
    )


@page
async def profile(request: Request) -> Response:
    """The account's .mobileconfig: servers, ports and login name; no password."""
    acc = _mail_account(request)
    try:
        data = mc.mobileconfig(client_services(state_of(request).cfg.static), acc)
    except BadSetupRequest as exc:
        return PlainTextResponse(f"{exc}\n", status_code=404)
    return Response(
        data,
        media_type=mc.MEDIA_TYPE,
        headers={
            "content-disposition": f'attachment; filename="{mc.filename(acc)}"',
            "cache-control": "no-store",
        },
    )
