"""JSON endpoint: the security of one recipient (docs/webmail-security-api.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from postel.recipientsecurity import BadAddress, evaluate_recipient
from postel.web.webmail.guard import account_of, page
from postel.web.webmail.state import state_of


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
        )
    except BadAddress as exc:
        return JSONResponse({"error": str(exc), "address": address}, status_code=400)
    return JSONResponse(rs.to_json(), headers={"cache-control": "no-store"})
