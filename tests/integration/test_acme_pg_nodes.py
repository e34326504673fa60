"""Two `postel serve` nodes on one PostgreSQL store (tests/pgcluster.py), both
managing the same host name with Debian's pebble on loopback: one order at
pebble for the two of them, and both nodes serve the certificate it issued.

pebble's HTTP-01 requests go to a round-robin forwarder over the two nodes'
responders, as a load balancer in front of the nodes would send them: some
reach the node that did not order, which answers from the challenges shared
in the database (postel.pg.acmechallenges).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pebblepeer import IP, Pebble, free_port
from test_acme_pebble import NAMES, names_of, postel, wait_for, wait_served

from pgcluster import Cluster, pg_cluster, pg_database
from postel.acme.storage import KINDS, CertStore
from postel.pg.migrate import migrate
from postel.pg.pool import connect
from postel.pg.settings import PgSettings

__all__ = ["pg_cluster", "pg_database"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STORAGE = """
[storage]
backend = "postgresql"
dsn = "{dsn}"
password_file = "pgpassword"
node_id = "{node}"
connect_timeout = 10
"""


class RoundRobin:
    """A TCP forwarder on *port* handing each connection to the next backend."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.sent = dict.fromkeys(backends, 0)
        self._n = 0
        self._server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, IP, port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = self.backends[self._n % len(self.backends)]
        self._n += 1
        self.sent[backend] += 1
        try:
            up_r, up_w = await asyncio.open_connection(IP, backend)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.write_eof()

        async with asyncio.timeout(20):
            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        up_w.close()
        writer.close()


@contextlib.asynccontextmanager
async def started(pebble: Pebble) -> AsyncIterator[Pebble]:
    pebble.start()
    try:
        yield pebble
    finally:
        pebble.stop()


def issued_at_pebble(pebble: Pebble) -> int:
    """Certificates pebble issued, by its log."""
    text = (pebble.dir / "pebble.log").read_text("utf-8", "replace")
    return len(re.findall(r"Issued certificate serial", text))


async def test_two_nodes_order_once_and_serve_the_same_certificate(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> None:
    dsn = pg_cluster.dsn(pg_database, with_password=False)
    # The schema, made once before the nodes start (postel config migrate-db).
    settings = PgSettings(dsn=dsn, password=pg_cluster.password)
    conn = await connect(settings)
    await migrate(conn, where=settings.where)
    await conn.close()
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
        (root / "pgpassword").write_text(pg_cluster.password + "\n")
    balancer_port = free_port()
    http01 = [free_port(), free_port()]
    smtp = [free_port(), free_port()]
    balancer = RoundRobin(http01)
    await balancer.start(balancer_port)
    pebble = Pebble(tmp_path / "pebble", tls_port=free_port(), http_port=balancer_port)
    async with started(pebble), contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(balancer.stop)
        running = []
        for n, root in enumerate(roots):
            node = postel(
                root,
                pebble.directory,
                pebble.ca_file,
                dns_port=pebble.dns_port,
                challenge="http-01",
                smtp=smtp[n],
                http01=http01[n],
                extra=STORAGE.format(dsn=dsn, node=f"node-{'ab'[n]}"),
            )
            running.append(await stack.enter_async_context(node))
        a, b = running
        await wait_for(lambda: a.acme.issued + b.acme.issued >= 1, 90, "the first certificates")
        stores = [CertStore(root / "data") for root in roots]
        ordered = stores[0] if a.acme.issued else stores[1]
        want = {k: ordered.chain(k)[0] for k in KINDS}
        for cert in want.values():
            assert cert.issuer != cert.subject, "still the self-signed placeholder"
            assert names_of(cert) == NAMES
        # The other node takes the certificates in, and orders none itself.
        for store in stores:
            await wait_for(
                lambda s=store: all(s.chain(k)[0] == want[k] for k in KINDS),  # type: ignore[misc]
                20,
                f"the certificates in {store.root}",
            )
        for kind in KINDS:
            await wait_served([(smtp[0], "starttls"), (smtp[1], "starttls")], want[kind], kind)
        await asyncio.sleep(3)  # both loops have looked again since
        # (An order may have failed before: a node starting while the other's
        # responder was not up yet. Failed orders issue nothing.)
        assert a.acme.issued + b.acme.issued == 1, (a.acme.issued, b.acme.issued)
        assert issued_at_pebble(pebble) == len(KINDS)  # one order per host key, once
        # pebble validated every name; the node that did not order answered some.
        assert all(count >= 1 for count in balancer.sent.values()), balancer.sent
        for store in stores:
            assert store.key_file("ecdsa").read_bytes() == stores[0].key_file("ecdsa").read_bytes()
