"""SMTP load client: N concurrent connections, per-transaction latency.

Each worker connects, reads the greeting, says EHLO (and STARTTLS + EHLO when
asked), then sends ``per_conn`` messages (MAIL, RCPT, DATA without pipelining)
and QUITs, again and again until the time or message budget is used. Latency
of a transaction is from writing MAIL to reading the reply after the final
dot. Every message has a unique Message-ID; the ids that got 250 are returned
(the reliability tests count them in the store after a kill -9).

    python bench/loadclient.py --port 2525 -c 10 --seconds 5 --size 5000 [--starttls]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    acked: list[str] = field(default_factory=list)  # Message-IDs that got 250
    latencies: list[float] = field(default_factory=list)  # seconds, acked only
    sent: int = 0  # transactions whose final dot was written
    rejected: int = 0  # non-250 replies after DATA
    errors: int = 0  # connection failures, timeouts, resets
    elapsed: float = 0.0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.acked) / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        k = min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))
        return s[k]

    def summary(self) -> dict[str, float | int | str]:
        return {
            "messages": len(self.acked),
            "seconds": round(self.elapsed, 3),
            "rate": round(self.rate, 1),
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "rejected": self.rejected,
            "errors": self.errors,
            "first_error": self.first_error,
        }


def make_message(msgid: str, size: int, rcpt: str, mail_from: str) -> bytes:
    """A plain message of about *size* bytes with Message-ID <msgid>."""
    head = (
        f"From: <{mail_from}>\r\nTo: <{rcpt}>\r\nSubject: load {msgid}\r\n"
        f"Date: Thu, 26 Nov 2026 04:00:00 +0000\r\nMessage-ID: <{msgid}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    ).encode()
    line = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


class SMTPError(Exception):
    pass


async def _reply(reader: asyncio.StreamReader) -> tuple[int, str]:
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise SMTPError(f"connection closed after {lines!r}")
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    try:
        return int(lines[-1][:3]), "\n".join(lines)
    except ValueError:
        raise SMTPError(f"bad reply {lines!r}") from None


async def _cmd(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str, expect: int
) -> str:
    writer.write(line.encode() + b"\r\n")
    try:
        code, text = await _reply(reader)
    except SMTPError as exc:
        raise SMTPError(f"{line.split(' ')[0]}: {exc}") from None
    if code != expect:
        raise SMTPError(f"{line.split(' ')[0]}: {text}")
    return text


async def run_load(
    host: str,
    port: int,
    *,
    concurrency: int,
    seconds: float | None = None,
    count: int | None = None,
    size: int = 5000,
    starttls: bool = False,
    tls_context: ssl.SSLContext | None = None,
    server_hostname: str = "mail.bench.test",
    rcpt: str = "rcpt@bench.test",
    mail_from: str = "sender@client.test",
    id_prefix: str = "load",
    per_conn: int = 1,
    timeout: float = 60.0,
    on_ack: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    stop_after_errors: int | None = None,
    payloads: Sequence[bytes] | None = None,
) -> LoadResult:
    """Send until *seconds* pass or *count* messages were tried (or *stop* is set).
    *payloads*: messages to send in turn (CRLF lines, dot-stuffed, ending in
    CRLF) instead of the generated ones of *size*."""
    res = LoadResult()
    counter = itertools.count()
    payload_cache: dict[int, bytes] = {}
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else None
    stop = stop or asyncio.Event()
    if starttls and tls_context is None:
        tls_context = ssl.create_default_context()
        tls_context.check_hostname = False
        tls_context.verify_mode = ssl.CERT_NONE

    def more() -> int | None:
        if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return None
        n = next(counter)
        if count is not None and n >= count:
            return None
        return n

    def body(n: int, msgid: str) -> bytes:
        if payloads:
            return payloads[n % len(payloads)] + b".\r\n"
        data = make_message(msgid, size, rcpt, mail_from)
        # Dot-stuffing is not needed: no line starts with ".".
        return data + b".\r\n"

    async def session() -> bool:
        n = more()
        if n is None:
            return False
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        try:
            code, text = await _reply(reader)
            if code != 220:
                raise SMTPError(f"greeting: {text}")
            await _cmd(reader, writer, "EHLO client.test", 250)
            if starttls:
                await _cmd(reader, writer, "STARTTLS", 220)
                await writer.start_tls(tls_context, server_hostname=server_hostname)  # type: ignore[arg-type]
                await _cmd(reader, writer, "EHLO client.test", 250)
            for i in range(per_conn):
                if i:
                    n = more()
                    if n is None:
                        break
                msgid = f"{id_prefix}-{n}@client.test"
                data = payload_cache.get(n) or body(n, msgid)
                t0 = time.perf_counter()
                await _cmd(reader, writer, f"MAIL FROM:<{mail_from}>", 250)
                await _cmd(reader, writer, f"RCPT TO:<{rcpt}>", 250)
                await _cmd(reader, writer, "DATA", 354)
                writer.write(data)
                res.sent += 1
                code, text = await _reply(reader)
                if code == 250:
                    res.latencies.append(time.perf_counter() - t0)
                    res.acked.append(msgid)
                    if on_ack is not None:
                        on_ack(msgid)
                else:
                    res.rejected += 1
                    if not res.first_error:
                        res.first_error = text
            writer.write(b"QUIT\r\n")
            await asyncio.wait_for(_reply(reader), 5)
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except Exception:
                pass
        return True

    async def worker() -> None:
        while True:
            try:
                if not await asyncio.wait_for(session(), timeout):
                    return
            except (OSError, SMTPError, TimeoutError, ssl.SSLError) as exc:
                res.errors += 1
                if stop_after_errors is not None and res.errors >= stop_after_errors:
                    stop.set()
                if not res.first_error:
                    res.first_error = f"{type(exc).__name__}: {exc}"
                if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    return
                await asyncio.sleep(0.05)
                if res.errors > 1000 and not res.acked:
                    return

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    res.elapsed = time.monotonic() - start
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("-c", "--concurrency", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--count", type=int, default=None)
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--per-conn", type=int, default=1)
    ap.add_argument("--rcpt", default="rcpt@bench.test")
    ap.add_argument("--id-prefix", default="load")
    a = ap.parse_args()
    if a.seconds is None and a.count is None:
        a.seconds = 5.0
    res = asyncio.run(
        run_load(
            a.host,
            a.port,
            concurrency=a.concurrency,
            seconds=a.seconds,
            count=a.count,
            size=a.size,
            starttls=a.starttls,
            per_conn=a.per_conn,
            rcpt=a.rcpt,
            id_prefix=a.id_prefix,
        )
    )
    print(json.dumps(res.summary()))


if __name__ == "__main__":
    main()
