"""JSON endpoint: the security of one recipient (docs/webmail-security-api.md)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from postel.config import Config
from postel.recipientsecurity import BadAddress, evaluate_recipient
from postel.web.webmail.guard import account_of, page
from postel.web.webmail.state import state_of


def local_check(cfg: Config) -> Callable[[str], bool | None]:
    """Is an address ours (postel.recipientsecurity.evaluate_recipient's *local*):
    None when its domain is not one of this server's, else whether it is delivered
    to an account here (as the submission will route it)."""
    from postel.store.routing import is_local_domain, resolve_for_config

    def check(address: str) -> bool | None:
        domain = address.rpartition("@")[2]
        if not is_local_domain(cfg, domain):
            return None
        return resolve_for_config(cfg, address) is not None

    return check


@page(api=True)
async def recipient_security(request: Request) -> Response:
    st = state_of(request)
    address = request.query_params.get("address", "")
    acc = st.store.account(account_of(request))
    try:
        rs = await evaluate_recipient(
            address,
            resolver=st.resolver,
            memory=acc.domain_security,
            mtastsdb=st.mtastsdb,
            ssl_context=st.mtasts_ssl,
            https_port=st.https_port,
            addresses=st.addresses,
            local=local_check(st.cfg),
        )
    except BadAddress as exc:
        return JSONResponse({"error": str(exc), "address": address}, status_code=400)
    return JSONResponse(rs.to_json(), headers={"cache-control": "no-store"})
