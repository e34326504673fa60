"""Webmail compose over a running listener: header fields the user controls are one
line (a line break would start another header field), and max_recipients holds."""

from __future__ import annotations

import httpx
import pytest
from livelib import Live, csrf_of, live_web, webmail_login
from webtestlib import Instance

from postel.localserve import ADDRESS


async def _send(live: Live, client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/webmail/compose")
    data = {
        "csrf": csrf_of(page.text),
        "from": ADDRESS,
        "to": "friend@example.com",
        "subject": "hello",
        "body": "text",
        "action": "send",
    }
    data.update(fields)
    return await client.post("/webmail/compose", data=data)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        (
            "in_reply_to",
            "<a@example.com>\r\nBcc: victim@example.net",
            "In-Reply-To: contains a line break",
        ),
        ("in_reply_to", "<a@example.com>\nX-Evil: 1", "In-Reply-To: contains a line break"),
        (
            "references",
            "<a@example.com>\rBcc: victim@example.net",
            "References: contains a line break",
        ),
        (
            "references",
            "<a@example.com> <b\x00@example.com>",
            "References: contains a control character",
        ),
        # Line boundaries of str.splitlines: the email package refuses them (a 500).
        ("subject", "hello\u2028Bcc: victim@example.net", "Subject: contains a line break"),
        ("subject", "hello\x0cthere", "Subject: contains a line break"),
        # Encoded words that decode to a line break were written out as one.
        (
            "subject",
            "=?utf-8?q?hi=0D=0ABcc=3A_victim=40example=2Enet?=",
            "Subject: contains a line break",
        ),
        (
            "in_reply_to",
            "<a@example.com> =?utf-8?q?x=0D=0AX-Injected=3A_1?=",
            "In-Reply-To: contains a line break",
        ),
        (
            "to",
            "=?utf-8?q?Friend=0D=0AFrom=3A_ceo=40example=2Enet?= <friend@example.com>",
            "To: contains a line break",
        ),
        ("cc", '"Bob\x1b[31m" <bob@example.com>', "Cc: contains a control character"),
    ],
)
async def test_line_breaks_and_controls_in_header_fields_are_refused(
    instance: Instance, name: str, value: str, shown: str
) -> None:
    async with live_web(instance) as live, live.client() as client:
        await webmail_login(client)
        r = await _send(live, client, **{name: value})
        assert r.status_code == 400
        assert shown in r.text
        assert live.submitter.sent == []


def _multipart(fields: dict[str, str], filename: bytes) -> tuple[bytes, str]:
    """A form with one attachment named *filename* exactly as given (httpx would
    escape control characters in it; a hostile client need not)."""
    boundary = "postel-test-boundary"
    out = b""
    for key, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        ).encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="'
    ).encode()
    out += filename + b'"\r\nContent-Type: text/plain\r\n\r\ndata\r\n'
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


async def test_attachment_name_with_control_character_is_refused(instance: Instance) -> None:
    async with live_web(instance) as live, live.client() as client:
        await webmail_login(client)
        page = await client.get("/webmail/compose")
        fields = {
            "csrf": csrf_of(page.text),
            "from": ADDRESS,
            "to": "friend@example.com",
            "subject": "file",
            "body": "text",
            "action": "send",
        }
        body, ctype = _multipart(fields, b"report\x0bX-Injected: 1.txt")
        r = await client.post("/webmail/compose", content=body, headers={"content-type": ctype})
        assert r.status_code == 400
        assert "contains a line break; rename the file" in r.text
        assert live.submitter.sent == []


async def test_folded_message_ids_of_a_reply_are_sent(instance: Instance) -> None:
    async with live_web(instance) as live, live.client() as client:
        await webmail_login(client)
        r = await _send(
            live,
            client,
            in_reply_to="<a@example.com>",
            references="<z@example.com>\t<a@example.com>",
        )
        assert r.status_code == 303
        (sent,) = live.submitter.sent
        assert b"\r\nIn-Reply-To: <a@example.com>\r\n" in sent.data


async def test_max_recipients_applies_to_webmail(instance: Instance) -> None:
    limit = instance.cfg.static.limits.max_recipients
    many = ", ".join(f"r{i}@example.com" for i in range(limit + 1))
    async with live_web(instance) as live, live.client() as client:
        await webmail_login(client)
        r = await _send(live, client, to=many)
        assert r.status_code == 400
        assert f"too many recipients: {limit + 1}, at most {limit} per message" in r.text
        assert live.submitter.sent == []
        exactly = ", ".join(f"r{i}@example.com" for i in range(limit))
        r = await _send(live, client, to=exactly)
        assert r.status_code == 303
        assert len(live.submitter.sent[0].rcpts) == limit
