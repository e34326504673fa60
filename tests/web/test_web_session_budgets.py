"""Anonymous visitors cannot push out another visitor's login form (its CSRF token
lives in an anonymous session) or a logged-in user's session."""

from __future__ import annotations

import asyncio

from livelib import csrf_of, live_web
from webtestlib import Instance

from postel.localserve import ADDRESS, PASSWORD

FLOOD = 12_000


async def _flood(port: int, n: int) -> None:
    """*n* cookie-less GETs of the login page, pipelined on one connection from
    127.0.0.1: each one a new visitor with a new anonymous session."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /webmail/login HTTP/1.1\r\nHost: x\r\n\r\n" * n)
    await writer.drain()
    for _ in range(n):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200 "), head[:100]
        fields = dict(
            line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:] if b": " in line
        )
        assert b"set-cookie" in fields
        await reader.readexactly(int(fields[b"content-length"]))
    writer.close()


async def test_cookieless_flood_keeps_victims_login_form(instance: Instance) -> None:
    async with (
        live_web(instance) as live,
        live.client("127.0.0.2") as victim,
        live.client("127.0.0.3") as user,
    ):
        # A logged-in user, and a victim who has loaded the login form.
        page = await user.get("/webmail/login")
        r = await user.post(
            "/webmail/login",
            data={"csrf": csrf_of(page.text), "address": ADDRESS, "password": PASSWORD},
        )
        assert r.status_code == 303
        form = await victim.get("/webmail/login")
        token = csrf_of(form.text)
        # 12,000 cookie-less GETs of the login page from one other address.
        await asyncio.gather(*(_flood(live.port, FLOOD // 8) for _ in range(8)))
        # The victim's form still logs in; the user is still logged in.
        r = await victim.post(
            "/webmail/login", data={"csrf": token, "address": ADDRESS, "password": PASSWORD}
        )
        assert r.status_code == 303, r.text
        r = await user.get("/webmail/compose")
        assert r.status_code == 200
