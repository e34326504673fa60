"""Conn (the session's protocol): reads as StreamReader does, bounded buffer,
read timeouts from one timer, write back-pressure, over real loopback sockets
and, for the read semantics, against asyncio.StreamReader with random chunks."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from conn_fakes import new_conn
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.smtpserver.conn import Conn

LIMIT = 64


def split_chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """*data* in pieces of the sizes in *cuts*, the rest in one last piece."""
    chunks = []
    rest = data
    for n in cuts:
        if not rest:
            break
        chunks.append(rest[:n])
        rest = rest[n:]
    if rest:
        chunks.append(rest)
    return chunks


ops = st.lists(
    st.one_of(
        st.tuples(st.just("until"), st.sampled_from([b"\n", b"\n.", b"\r\n"])),
        st.tuples(st.just("exactly"), st.integers(0, 80)),
        st.tuples(st.just("read"), st.integers(1, 80)),
    ),
    max_size=12,
)


async def run_ops(reader: Any, operations: list[tuple[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for op, arg in operations:
        try:
            if op == "until":
                out.append(("ok", await reader.readuntil(arg)))
            elif op == "exactly":
                out.append(("ok", await reader.readexactly(arg)))
            else:
                out.append(("ok", await reader.read(arg)))
        except asyncio.IncompleteReadError as exc:
            out.append(("incomplete", exc.partial, exc.expected))
            break
        except asyncio.LimitOverrunError as exc:
            out.append(("overrun", exc.consumed))
            # what a caller does next (postel.smtpserver.lines): take that much
            out.append(("ok", await reader.read(max(exc.consumed, 1))))
    return out


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n")),
    cuts=st.lists(st.integers(1, 40), max_size=20),
    operations=ops,
)
async def test_reads_like_streamreader(
    data: bytes, cuts: list[int], operations: list[tuple[str, Any]]
) -> None:
    chunks = split_chunks(data, cuts)

    async def feed(target: Any) -> None:
        for chunk in chunks:
            await asyncio.sleep(0)
            target(chunk)
        await asyncio.sleep(0)

    stream = asyncio.StreamReader(limit=LIMIT)
    conn, _ = new_conn()

    async def feed_stream() -> None:
        await feed(stream.feed_data)
        stream.feed_eof()

    async def feed_conn() -> None:
        await feed(conn.data_received)
        conn.eof_received()

    expected, _ = await asyncio.gather(run_ops(stream, operations), feed_stream())
    got, _ = await asyncio.gather(run_ops(conn, operations), feed_conn())
    assert got == expected


async def test_take_line_and_buffer_bound() -> None:
    conn, transport = new_conn()
    conn.data_received(b"EHLO a\r\nMAIL")
    assert conn.take_line() == b"EHLO a\r\n"
    assert conn.take_line() is None and conn.buffered == 4
    conn.data_received(b"x" * (2 * LIMIT))
    assert transport.paused  # more than twice the limit buffered
    assert conn.take_line() is None  # no LF within the limit
    assert await conn.read(3 * LIMIT) == b"MAIL" + b"x" * (2 * LIMIT)
    assert not transport.paused


async def test_connection_lost_ends_reads_and_writes() -> None:
    conn, _ = new_conn()
    waiting = asyncio.ensure_future(conn.readuntil(b"\n"))
    await asyncio.sleep(0)
    conn.connection_lost(ConnectionResetError("gone"))
    try:
        await waiting
        raise AssertionError("no error")
    except asyncio.IncompleteReadError as exc:  # EOF seen by the waiting read
        assert exc.partial == b""
    try:
        await conn.readuntil(b"\n")
        raise AssertionError("no error")
    except ConnectionResetError:
        pass
    try:
        conn.write(b"250 ok\r\n")
        raise AssertionError("no error")
    except ConnectionResetError:
        pass


async def test_read_timeout_from_one_timer() -> None:
    conn, _ = new_conn()
    loop = asyncio.get_running_loop()
    conn.set_timeout(loop.time() + 0.05)
    start = loop.time()
    try:
        await conn.readuntil(b"\n")
        raise AssertionError("no timeout")
    except TimeoutError:
        pass
    assert 0.04 <= loop.time() - start < 2
    # A later, longer deadline: data in time is read, the old timer does not fire.
    conn.set_timeout(loop.time() + 0.3)
    loop.call_later(0.1, conn.data_received, b"NOOP\r\n")
    assert await conn.readuntil(b"\n") == b"NOOP\r\n"
    conn.set_timeout(None)
    loop.call_later(0.4, conn.data_received, b"QUIT\r\n")
    assert await conn.readuntil(b"\n") == b"QUIT\r\n"  # no timeout any more


async def serve(handler: Any) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def connected(conn: Conn) -> None:
        task = loop.create_task(handler(conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await loop.create_server(lambda: Conn(LIMIT, connected), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_real_socket_lines_and_big_input() -> None:
    got: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()

    async def handler(conn: Conn) -> None:
        lines = []
        conn.write(b"220 hi\r\n")
        while True:
            try:
                lines.append(await conn.readuntil(b"\n"))
            except asyncio.IncompleteReadError:
                break
            except asyncio.LimitOverrunError as exc:
                lines.append(await conn.read(exc.consumed))
        conn.close()
        got.set_result(lines)

    server, port = await serve(handler)
    payload = b"".join(b"line %d\r\n" % i for i in range(5000))

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            banner = s.recv(100)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            return banner

    async with server:
        banner = await asyncio.to_thread(client)
        lines = await asyncio.wait_for(got, 10)
    assert banner == b"220 hi\r\n"
    assert b"".join(lines) == payload


async def test_real_socket_write_backpressure() -> None:
    state: dict[str, Any] = {}
    release = asyncio.Event()
    done = asyncio.Event()

    async def handler(conn: Conn) -> None:
        chunk = b"x" * 65536
        while not conn.must_drain:  # the client reads nothing yet
            conn.write(chunk)
            state["written"] = state.get("written", 0) + len(chunk)
        state["paused"] = True
        release.set()
        await asyncio.wait_for(conn.drain(), 10)
        state["drained"] = True
        conn.close()
        done.set()

    server, port = await serve(handler)

    def client() -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            total = 0
            while data := s.recv(65536):
                total += len(data)
            return total

    async with server:
        reader = asyncio.create_task(asyncio.to_thread(client))
        await asyncio.wait_for(release.wait(), 10)
        await asyncio.wait_for(done.wait(), 10)
        total = await asyncio.wait_for(reader, 10)
    assert state["paused"] and state["drained"]
    assert total == state["written"]


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"x", b"\n").replace(b"y", b".")),
    cuts=st.lists(st.integers(1, 40), max_size=20),
)
async def test_read_chunk_never_splits_the_separator(data: bytes, cuts: list[int]) -> None:
    conn, _ = new_conn()
    chunks = split_chunks(data, cuts)

    async def feed() -> None:
        for chunk in chunks:
            await asyncio.sleep(0)
            conn.data_received(chunk)
        await asyncio.sleep(0)
        conn.eof_received()

    feeder = asyncio.create_task(feed())
    got: list[tuple[bytes, bool]] = []
    while True:
        try:
            got.append(await conn.read_chunk(b"\n."))
        except asyncio.IncompleteReadError as exc:
            got.append((exc.partial, False))
            break
    await feeder
    assert b"".join(c for c, _ in got) == data
    pos = 0
    for chunk, found in got:
        inner = chunk[:-2] if found else chunk
        assert b"\n." not in inner
        if found:
            assert chunk.endswith(b"\n.")
        else:
            # the separator does not straddle this chunk and the next byte
            following = data[pos + len(chunk) : pos + len(chunk) + 1]
            assert not (chunk.endswith(b"\n") and following == b".")
        pos += len(chunk)


async def test_buffer_pauses_at_the_high_water_mark() -> None:
    conn, transport = new_conn(limit=64, high_water=4096)
    conn.data_received(b"x" * 4000)
    assert not transport.paused  # below the mark: keep reading
    conn.data_received(b"x" * 200)
    assert transport.paused
    chunk, found = await conn.read_chunk(b"\n.")
    assert not found and len(chunk) == 4199
    assert not transport.paused  # drained below half the mark


async def test_peek_waits_and_consumes_nothing() -> None:
    conn, _ = new_conn()
    waiting = asyncio.ensure_future(conn.peek(2))
    conn.data_received(b".")
    await asyncio.sleep(0)
    assert not waiting.done()  # one byte of two
    conn.data_received(b"\r\nQUIT")
    assert await waiting == b".\r"
    assert await conn.peek(1) == b"."
    assert await conn.readexactly(3) == b".\r\n"
    conn.eof_received()
    assert await conn.peek(10) == b"QUIT"  # fewer only at EOF
    assert await conn.read(10) == b"QUIT"
