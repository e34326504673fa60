"""DNS over UDP through a few shared sockets per server (no parsing here).

dnspython's ``udp()`` opens a socket and an asyncio endpoint for every query,
which cost more CPU than the query's own work. Here a server gets at most
``sockets`` open sockets, each carrying up to ``queries_per_socket`` queries
(several at once, told apart by their ids) and then closed when its last
answer is in; a socket with nothing waiting is closed at once, so nothing
stays open between bursts and no close call is needed.

RFC 5452 §9.2: each socket is bound by the kernel to a random ephemeral port
and lives for a few dozen queries only; query ids come from ``secrets``. A
datagram is taken as the answer only if it comes from the server (the socket
is connected, so the kernel drops other sources, §4.3) and matches a waiting
query's id, QR bit, opcode and question (name without regard to case, type
and class, §4.2); anything else is dropped and the query keeps waiting.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import dataclass, field

from postel.errors import PostelError

DEFAULT_SOCKETS = 4
DEFAULT_QUERIES_PER_SOCKET = 32
MAX_DATAGRAM = 65535


class UDPTimeout(PostelError):
    """No matching answer within the time allowed (never raised past the resolver)."""


@dataclass(eq=False)
class _Waiting:
    name: bytes  # the question's name, lower-case wire form
    typeclass: bytes
    future: asyncio.Future[bytes]


@dataclass(eq=False)
class _Socket:
    sock: socket.socket
    loop: asyncio.AbstractEventLoop
    uses: int = 0
    waiting: dict[int, _Waiting] = field(default_factory=dict)
    closed: bool = False


def question_of(wire: bytes) -> tuple[bytes, bytes]:
    """(lower-case name, type and class) of the first question of a message."""
    i = 12
    while True:
        n = wire[i]
        if n == 0 or n & 0xC0:
            break
        i += 1 + n
    end = i + 1 if n == 0 else i + 2
    return wire[12:end].lower(), wire[end : end + 4]


def _matches(data: bytes, waiting: _Waiting) -> bool:
    """QR set, opcode QUERY, one question equal to ours (RFC 5452 §4.2), or
    none in an error answer."""
    if len(data) < 12 or not data[2] & 0x80 or data[2] & 0x78:
        return False
    if data[4:6] == b"\0\0":
        # Some servers leave the question out of an error answer; dnspython
        # accepts that for these codes too (FORMERR, SERVFAIL, NOTIMP, REFUSED).
        return data[3] & 0x0F in (1, 2, 4, 5)
    if data[4:6] != b"\0\1":
        return False
    n = len(waiting.name)
    return data[12 : 12 + n].lower() == waiting.name and data[12 + n : 16 + n] == waiting.typeclass


class UDPClient:
    """Sends one query wire and returns the matching answer's wire."""

    def __init__(
        self,
        *,
        sockets: int = DEFAULT_SOCKETS,
        queries_per_socket: int = DEFAULT_QUERIES_PER_SOCKET,
    ) -> None:
        self.sockets = sockets
        self.queries_per_socket = queries_per_socket
        # Open sockets with uses left, per (server, port); sockets used up stay
        # open outside this map until their last answer is in.
        self._open: dict[tuple[str, int], list[_Socket]] = {}

    async def query(self, wire: bytes, server: str, port: int, timeout: float) -> bytes:
        """Send ``wire`` (its id is replaced) and await the answer.

        Raises UDPTimeout, or OSError when the server cannot be reached.
        """
        loop = asyncio.get_running_loop()
        s = self._socket(server, port, loop)
        qid = secrets.randbits(16)
        while qid in s.waiting:
            qid = secrets.randbits(16)
        name, typeclass = question_of(wire)
        waiting = _Waiting(name, typeclass, loop.create_future())
        s.waiting[qid] = waiting
        timer = loop.call_later(timeout, _expire, waiting.future)
        try:
            s.sock.send(qid.to_bytes(2, "big") + wire[2:])
            return await waiting.future
        finally:
            timer.cancel()
            if s.waiting.get(qid) is waiting:
                del s.waiting[qid]
            if not s.waiting:
                self._close(s, server, port)

    def _socket(self, server: str, port: int, loop: asyncio.AbstractEventLoop) -> _Socket:
        key = (server, port)
        pool = [s for s in self._open.get(key, ()) if s.loop is loop]
        if len(pool) < self.sockets:
            s = self._new(server, port, loop)
            self._open.setdefault(key, []).append(s)
        else:
            s = pool[secrets.randbelow(len(pool))]
        s.uses += 1
        if s.uses >= self.queries_per_socket:
            self._open[key].remove(s)
        return s

    def _new(self, server: str, port: int, loop: asyncio.AbstractEventLoop) -> _Socket:
        family, kind, proto, _, addr = socket.getaddrinfo(
            server, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.connect(addr)  # the kernel picks a random port (RFC 5452 §9.2)
        except OSError:
            sock.close()
            raise
        s = _Socket(sock, loop)
        loop.add_reader(sock.fileno(), self._readable, s)
        return s

    def _readable(self, s: _Socket) -> None:
        while not s.closed:
            try:
                data = s.sock.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as e:
                # ICMP unreachable and the like: every query on this socket
                # went to the same server, which cannot be reached.
                for each in s.waiting.values():
                    if not each.future.done():
                        each.future.set_exception(OSError(e.errno, e.strerror))
                return
            if len(data) < 12:
                continue
            w = s.waiting.get(int.from_bytes(data[:2], "big"))
            if w is None or w.future.done() or not _matches(data, w):
                continue  # not an answer we wait for: keep waiting (RFC 5452 §9.1)
            w.future.set_result(data)

    def _close(self, s: _Socket, server: str, port: int) -> None:
        if s.closed:
            return
        s.closed = True
        pool = self._open.get((server, port))
        if pool is not None and s in pool:
            pool.remove(s)
            if not pool:
                del self._open[(server, port)]
        s.loop.remove_reader(s.sock.fileno())
        s.sock.close()


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(UDPTimeout())
