"""The HTTP/1.1 protocol of postel's web listeners (uvicorn's h11 protocol plus
slow-client defences).

uvicorn closes idle keep-alive connections, but a client that sends nothing,
trickles a request head that never ends, or sends a body a few bytes at a time
is kept forever, and enough such connections make uvicorn answer 503 to
everyone. This protocol:

- closes a request that misses a deadline of requestdeadline.py (head, body
  rate, whole request), with 408 when no response has started;
- counts open connections per client (IPv4 address or IPv6 /64, as the SMTP
  listeners do) and answers 503 to a client over its share, before the
  connection counts towards uvicorn's limit for the whole listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr

from postel.metrics import record as metrics
from postel.smtpserver.clientlimit import ClientConnections, client_key
from postel.web.requestdeadline import Deadlines, RequestClock

log = logging.getLogger("postel.web")

REFUSE_WAIT = 2.0  # seconds a refused client has to send its request head
_REFUSAL = b"too many connections from your address, try again later\n"
_REFUSAL_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_REFUSAL)).encode() + b"\r\nretry-after: 10\r\n"
    b"connection: close\r\n\r\n" + _REFUSAL
)
_TIMEOUT_BODY = b"request not received in time\n"


class WebH11Protocol(H11Protocol):
    deadlines: Deadlines = Deadlines()
    clients: ClientConnections = ClientConnections()
    max_per_client: int = 50
    exempt: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._request: RequestClock | None = None
        self._client_key: str | None = None
        self._refused = False

    # Connections per client.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = get_remote_addr(transport)
        key = client_key(peer[0], self.exempt) if peer else None
        metrics.connection("http")
        if key is not None and self.clients.count(key) >= self.max_per_client:
            # Not handed to uvicorn: it does not count towards limit_concurrency.
            metrics.connection_refused("http", "client")
            self._refused = True
            self.transport = transport
            log.info(
                "too many web connections from client",
                extra={"ip": peer[0] if peer else "", "client": key, "max": self.max_per_client},
            )
            self._timer = self.loop.call_later(REFUSE_WAIT, self._refuse)
            return
        super().connection_made(transport)
        metrics.connection_opened("http")
        if key is not None:
            self.clients.add(key)
            self._client_key = key
        self._begin()

    def _refuse(self) -> None:
        """503 (RFC 9110 §15.6.4) and close, once the head is in or after REFUSE_WAIT
        (answering before the request arrives could reset the connection instead)."""
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_REFUSAL_RESPONSE)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            return
        metrics.connection_closed("http")
        if self._client_key is not None:
            self.clients.remove(self._client_key)
            self._client_key = None
        super().connection_lost(exc)

    # Request deadlines.

    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._refuse()
            return
        if self._request is None and self.conn.their_state is h11.IDLE:
            self._begin()  # the first byte of the next request on this connection
        super().data_received(data)
        self._follow(len(data))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request may have started, from bytes already received.
        if self.conn.trailing_data[0]:
            if self._request is None and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                self._begin()
            self._follow(0)

    def _follow(self, received: int) -> None:
        """Bring the request's clock up to the state of the h11 connection."""
        request = self._request
        if request is None:
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if request.head_at is not None:
                # That request is in and h11 went on to the next one (its response
                # had been sent before the body ended).
                self._end()
                if self.conn.trailing_data[0]:
                    self._begin()
            return  # (more of) the head is awaited
        if state is h11.SEND_BODY:
            if request.head_at is None:
                request.head_received(self.loop.time())
                self._disarm()  # the body's deadline may come before the head's
                self._arm()
            else:
                request.body_received(received)
            return
        self._end()  # the request is in (or the connection is ending)

    def _begin(self) -> None:
        self._disarm()
        self._request = RequestClock(self.deadlines, self.loop.time())
        self._arm()

    def _end(self) -> None:
        self._disarm()
        self._request = None

    def _arm(self) -> None:
        assert self._request is not None
        self._timer = self.loop.call_at(self._request.due(), self._check)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        request = self._request
        if request is None or self.transport.is_closing():
            return
        now = self.loop.time()
        if request.head_at is not None and self.flow.read_paused:
            request.restart_rate(now)  # we stopped reading, not the client
        why = request.late(now)
        if why is None:
            self._arm()
            return
        log.info(
            "http request not received in time, closing",
            extra={
                "client": self.client[0] if self.client else "",
                "late": why,
                "seconds": request.elapsed(now),
                "body_bytes": request.body_bytes,
            },
        )
        self._request = None
        self._timeout_response()
        self.transport.close()

    def _timeout_response(self) -> None:
        """408 (RFC 9110 §15.5.9) when a request head came and no response started;
        the application sees the client as gone and answers nothing more."""
        cycle = self.cycle
        if cycle is None or cycle.response_started or self.conn.our_state is not h11.SEND_RESPONSE:
            return
        cycle.disconnected = True
        cycle.message_event.set()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(_TIMEOUT_BODY)).encode()),
            (b"connection", b"close"),
        ]
        try:
            out = self.conn.send(
                h11.Response(status_code=408, headers=headers, reason=b"Request Timeout")
            )
            out = (out or b"") + (self.conn.send(h11.Data(data=_TIMEOUT_BODY)) or b"")
            out += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        self.transport.write(out)


def protocol_class(
    deadlines: Deadlines, max_per_client: int, exempt: Sequence[str] = ()
) -> type[WebH11Protocol]:
    """The protocol class of one listener for uvicorn.Config(http=...): its deadlines
    and its own count of connections per client."""
    return type(
        "WebH11Protocol",
        (WebH11Protocol,),
        {
            "deadlines": deadlines,
            "clients": ClientConnections(),
            "max_per_client": max_per_client,
            "exempt": tuple(exempt),
        },
    )
