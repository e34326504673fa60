"""An SMTP sink with STARTTLS (Postfix's smtp-sink has none), for the benchmarks
and the reliability tests: accepts every message, optionally appends each
Message-ID to a log file (flushed per message), discards the rest.

    python bench/sink.py PORT [--cert C --key K] [--log FILE] [--ips A,B,...]

Prints "ready" once listening on PORT of 127.0.0.1 (or of each of --ips,
loopback addresses).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import ssl
from typing import IO

MSGID = re.compile(rb"^message-id:\s*<([^>]*)>", re.I | re.M)


class Sink:
    def __init__(self, tls: ssl.SSLContext | None, log: IO[bytes] | None) -> None:
        self.tls = tls
        self.log = log
        self.count = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls_on = False
        try:
            writer.write(b"220 sink.test ESMTP\r\n")
            while True:
                line = await reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    ext = b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                    if self.tls is not None and not tls_on:
                        ext += b"250-STARTTLS\r\n"
                    writer.write(ext + b"250 SIZE 104857600\r\n")
                elif verb == b"STAR" and self.tls is not None and not tls_on:
                    writer.write(b"220 go ahead\r\n")
                    await writer.drain()
                    await writer.start_tls(self.tls)
                    tls_on = True
                elif verb == b"DATA":
                    writer.write(b"354 go\r\n")
                    await writer.drain()
                    head = b""
                    while True:
                        data = await reader.readuntil(b"\n")
                        if data in (b".\r\n", b".\n"):
                            break
                        if len(head) < 4096:
                            head += data
                    self.count += 1
                    if self.log is not None:
                        m = MSGID.search(head)
                        self.log.write((m.group(1) if m else b"-") + b"\n")
                        self.log.flush()
                    writer.write(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            return
        finally:
            writer.close()


async def serve(
    port: int, tls: ssl.SSLContext | None, log: IO[bytes] | None, ips: list[str]
) -> None:
    sink = Sink(tls, log)
    servers = [await asyncio.start_server(sink.handle, ip, port, backlog=1000) for ip in ips]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--log")
    ap.add_argument("--ips", default="127.0.0.1")
    a = ap.parse_args()
    tls = None
    if a.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    log = open(a.log, "ab") if a.log else None  # noqa: SIM115
    asyncio.run(serve(a.port, tls, log, a.ips.split(",")))


if __name__ == "__main__":
    main()
