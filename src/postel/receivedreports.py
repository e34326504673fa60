"""The received reports as the admin pages, the digest and the CLI read them:
the data directory's tlsrpt.db and dmarcrpt.db, or those the nodes share in
PostgreSQL (opened once by the process's root, postel.wiring)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from postel.datadir import DataDir
from postel.dmarcdb.api import ReceivedDMARCReports
from postel.tlsrptdb.api import ReceivedTLSReports


@dataclass(frozen=True)
class ReceivedReports:
    """Received TLS and DMARC reports opened by the process (left open here)."""

    tls: ReceivedTLSReports
    dmarc: ReceivedDMARCReports


@contextmanager
def tls_reports(datadir: DataDir, shared: ReceivedReports | None) -> Iterator[ReceivedTLSReports]:
    """*shared*'s TLS reports, else tlsrpt.db of *datadir* (closed afterwards)."""
    if shared is not None:
        yield shared.tls
        return
    from postel import tlsrptdb

    with tlsrptdb.open(datadir.tlsrpt_db) as db:
        yield db


@contextmanager
def dmarc_reports(
    datadir: DataDir, shared: ReceivedReports | None
) -> Iterator[ReceivedDMARCReports]:
    """*shared*'s DMARC reports, else dmarcrpt.db of *datadir* (closed afterwards)."""
    if shared is not None:
        yield shared.dmarc
        return
    from postel import dmarcdb

    with dmarcdb.open(datadir.dmarcrpt_db) as db:
        yield db
