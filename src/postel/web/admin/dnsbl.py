"""The admin's DNSBL page: are this server's own addresses listed in the
configured blocklists ([junk] dnsbl_zones, RFC 5782)? A listed sending address
gets outgoing mail refused or filed as junk elsewhere."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from postel.config.model import Listener
from postel.junk.dnsbl import TIMEOUT, Result, check
from postel.web.admin.guard import page, render
from postel.web.admin.state import admin_state


@dataclass(frozen=True)
class Row:
    ip: str
    zone: str
    status: str  # listed, clear, unknown
    detail: str


def rows_of(ip: str, zones: list[str], result: Result) -> list[Row]:
    listed = {x.zone: x for x in result.listed}
    errors = {e.split(":", 1)[0]: e for e in result.errors}
    out: list[Row] = []
    for zone in zones:
        if zone in listed:
            x = listed[zone]
            out.append(Row(ip, zone, "listed", f"{', '.join(x.codes)} {x.reason}".strip()))
        elif zone in errors:
            out.append(Row(ip, zone, "unknown", errors[zone]))
        else:
            out.append(Row(ip, zone, "clear", ""))
    return out


def own_addresses(listeners: Iterable[Listener]) -> list[str]:
    """The global addresses the listeners use, once each: the addresses others
    see this server's mail come from when it sends from them."""
    out: list[str] = []
    for lst in listeners:
        for ip in lst.ips:
            try:
                if ipaddress.ip_address(ip).is_global and ip not in out:
                    out.append(ip)
            except ValueError:
                continue
    return out


@page
async def index(request: Request) -> Response:
    st = admin_state(request)
    cfg = st.cfg
    zones = cfg.static.junk.dnsbl_zones
    ips = own_addresses(cfg.static.listeners.values())
    rows: list[Row] = []
    if zones and ips:
        timeout = cfg.static.junk.dnsbl_timeout or TIMEOUT
        results = await asyncio.gather(*(check(st.resolver, ip, zones, timeout) for ip in ips))
        for ip, result in zip(ips, results, strict=True):
            rows.extend(rows_of(ip, zones, result))
    return render(request, "admin/dnsbl.html", zones=zones, ips=ips, rows=rows)
