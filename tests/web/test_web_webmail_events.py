"""The webmail's live updates (/webmail/events, server-sent events) on a running
web listener (loopback): changes of the account as they are committed, counts,
heartbeats, bounded streams, and the end of a stream at logout and at shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from livelib import Live, csrf_of, live_web, webmail_login
from webtestlib import Instance

from postel.localserve import ACCOUNT
from postel.store.notify import ChangeFeed
from postel.web.webmail import events as events_mod
from postel.web.webmail.streamslots import MAX_PER_SESSION

MSG = b"From: Carol <carol@example.org>\r\nSubject: live one\r\n\r\nhello\r\n"


@asynccontextmanager
async def live_feed(instance: Instance) -> AsyncIterator[tuple[Live, ChangeFeed]]:
    feed = ChangeFeed(instance.cfg.datadir.tmp)
    await feed.start()
    try:
        async with live_web(instance, feed=feed) as live:
            yield live, feed
            await feed.stop()  # as serve does: the streams end before the listener stops
    finally:
        await feed.stop()


class Stream:
    """One open event stream: its events as (name, data) and its comments."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self, timeout: float = 5.0) -> tuple[str, Any]:
        name, data = "", ""
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                if line.startswith(":"):
                    return ":", line[1:].strip()
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line.startswith("retry: "):
                    name, data = "retry", line[7:]
                elif line == "" and name:
                    return name, json.loads(data) if name not in ("retry",) else data
        return "closed", None

    async def event(self, name: str, timeout: float = 5.0) -> Any:
        while True:
            got, data = await self.next(timeout)
            if got == name:
                return data
            assert got not in ("closed", "end"), (got, data)


@asynccontextmanager
async def stream(client: httpx.AsyncClient, since: int | None) -> AsyncIterator[Stream]:
    url = "/webmail/events?name=Inbox" + (f"&since={since}" if since is not None else "")
    async with client.stream("GET", url, timeout=30) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        yield Stream(r)


async def test_changes_are_streamed_as_they_are_committed(instance: Instance) -> None:
    acc = instance.store.account(ACCOUNT)
    async with live_feed(instance) as (live, _feed), live.client() as client:
        await webmail_login(client)
        since = acc.mailbox("Inbox").highestmodseq
        async with stream(client, since) as s:
            assert (await s.next()) == ("retry", "5000")
            first = await s.event("changes")
            assert first["changed"] == [] and first["vanished"] == []
            inbox = next(b for b in first["boxes"] if b["name"] == "Inbox")
            assert inbox["unseen"] == 0

            msg = await asyncio.to_thread(acc.deliver_bytes, "Inbox", MSG)
            d = await s.event("changes")
            [m] = d["changed"]
            assert (m["uid"], m["subject"], m["party"], m["seen"]) == (
                msg.uid,
                "live one",
                "Carol <carol@example.org>",
                False,
            )
            assert m["href"] == f"/webmail/msg/{msg.msgid}"
            assert m["thread"] == msg.thread == msg.msgid  # the row the page asks /rows for
            assert next(b for b in d["boxes"] if b["name"] == "Inbox")["unseen"] == 1

            await asyncio.to_thread(acc.set_flags, msg.msgid, ["\\Seen"])
            d = await s.event("changes")
            assert [(m["uid"], m["seen"]) for m in d["changed"]] == [(msg.uid, True)]
            assert next(b for b in d["boxes"] if b["name"] == "Inbox")["unseen"] == 0

            await asyncio.to_thread(acc.move, msg.msgid, "Archive")
            d = await s.event("changes")
            assert d["vanished"] == [msg.uid] and d["changed"] == []


async def test_not_logged_in_and_without_feed(instance: Instance) -> None:
    async with live_feed(instance) as (live, _feed), live.client() as client:
        r = await client.get("/webmail/events?name=Inbox")
        assert r.status_code == 401
    async with live_web(instance) as live, live.client() as client:  # no feed: no live updates
        await webmail_login(client)
        r = await client.get("/webmail/events?name=Inbox")
        assert r.status_code == 503


async def test_streams_are_bounded_per_session(instance: Instance) -> None:
    async with live_feed(instance) as (live, _feed), live.client() as client:
        await webmail_login(client)
        opened = []  # the streams and their readers (a reader let go closes its stream)
        for _ in range(MAX_PER_SESSION):
            cm = stream(client, None)
            s = await cm.__aenter__()
            await s.event("changes")
            opened.append((cm, s))
        r = await client.get("/webmail/events?name=Inbox")
        assert r.status_code == 429
        await opened.pop()[0].__aexit__(None, None, None)
        await asyncio.sleep(0.2)  # the server notices the closed stream
        async with stream(client, None) as s:  # a slot is free again
            await s.event("changes")
        for cm, _ in opened:
            await cm.__aexit__(None, None, None)


async def test_heartbeats_and_the_end_at_logout(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_mod, "HEARTBEAT", 0.2)
    async with live_feed(instance) as (live, _feed), live.client() as client:
        await webmail_login(client)
        async with stream(client, None) as s:
            await s.event("changes")
            assert (await s.next(2)) == (":", "keep-alive")
            page = await client.get("/webmail/mailbox?name=Inbox")
            r = await client.post("/webmail/logout", data={"csrf": csrf_of(page.text)})
            assert r.status_code == 303
            assert (await s.event("end", 2)) == {}


async def test_streams_end_at_shutdown_without_errors(
    instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with live_feed(instance) as (live, feed), live.client() as client:
        await webmail_login(client)
        async with stream(client, None) as s:
            await s.event("changes")
            await feed.stop()
            assert (await s.next(2)) == ("closed", None)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_commit_right_after_the_first_read_is_not_missed(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream watches the feed before it first reads the store: a delivery
    committed just after that read still reaches the page."""
    acc = instance.store.account(ACCOUNT)
    real = events_mod.changes_event
    calls = []

    def read_then_deliver(a: Any, mailbox: str, since: int | None) -> tuple[str, int]:
        out = real(a, mailbox, since)
        if not calls:
            acc.deliver_bytes("Inbox", MSG)  # its notice goes out before the first event
        calls.append(since)
        return out

    monkeypatch.setattr(events_mod, "changes_event", read_then_deliver)
    async with live_feed(instance) as (live, _feed), live.client() as client:
        await webmail_login(client)
        since = acc.mailbox("Inbox").highestmodseq
        async with stream(client, since) as s:
            assert (await s.event("changes"))["changed"] == []
            d = await s.event("changes", 3)
            assert [m["subject"] for m in d["changed"]] == ["live one"]
