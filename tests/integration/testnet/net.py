"""TestNet: knot + unbound + HTTPS on a loopback /24 of this process."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path

import trustme

from . import addresses, procs
from .https import CERT_KINDS, HTTPSServer, Request
from .knot import MODES, TLD, Knot, Zone
from .unbound import Unbound

log = logging.getLogger("testnet")

REQUIRED_PROGRAMS = ("knotd", "knotc", "unbound", "unbound-control", "unbound-checkconf")

# Zones present from the start: the same records, three DNSSEC states.
DEFAULT_RECORDS = [
    "@ A 192.0.2.1",
    "@ MX 10 mx",
    "mx A 192.0.2.25",
    '@ TXT "v=spf1 -all"',
    "_25._tcp.mx TLSA 3 1 1 " + "0123456789abcdef" * 4,
    "www CNAME alias",
    "alias CNAME mx",
    '_mta-sts TXT "v=STSv1; id=1"',
]
DEFAULT_ZONES = {"signed.test.": "signed", "unsigned.test.": "unsigned", "bogus.test.": "bogus"}


class TestNetError(RuntimeError):
    pass


def _zone_name(name: str) -> str:
    n = name.strip().lower().rstrip(".") + "."
    if not n.endswith("." + TLD) or n == TLD:
        raise ValueError(f"zone {name!r} must be below {TLD} (e.g. example.test)")
    return n


class TestNet:
    """See README.md in this directory."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.block: addresses.Block | None = None
        self.workdir: Path | None = None
        self.knot: Knot | None = None
        self.unbound: Unbound | None = None
        self.https: HTTPSServer | None = None
        self.ca = trustme.CA(organization_name="postel testnet CA")
        self.ca_file: Path = Path()
        self._next_ip = addresses.FIRST_FREE

    # addresses

    @property
    def knot_ip(self) -> str:
        return self._block.ip(addresses.KNOT)

    @property
    def resolver_ip(self) -> str:
        return self._block.ip(addresses.UNBOUND)

    @property
    def https_ip(self) -> str:
        return self._block.ip(addresses.HTTPS)

    @property
    def _block(self) -> addresses.Block:
        if self.block is None:
            raise TestNetError("test network not started")
        return self.block

    def ip(self, n: int | None = None) -> str:
        """Address ``n`` (1..254) of our /24; without ``n`` the next unused one from 10 on.
        1 knot, 2 unbound, 3 the default HTTPS address; 4..9 reserved."""
        if n is None:
            n = self._next_ip
            self._next_ip += 1
        return self._block.ip(n)

    # lifecycle

    def start(self, timeout: float = 60.0) -> None:
        missing = [p for p in REQUIRED_PROGRAMS if procs.find(p) is None]
        if missing:
            raise TestNetError(
                f"integration tests need {', '.join(missing)}: "
                "apt-get install -y $(cat .ci/apt-packages.txt)"
            )
        deadline = time.monotonic() + timeout
        self.block = addresses.allocate()
        prefix = f"postel-testnet-{self.block.prefix}-"
        # We hold this block's lock, so its old directories belong to dead runs.
        for stale in Path(tempfile.gettempdir()).glob(prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=prefix))
        self.ca_file = self.workdir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        try:
            self.knot = Knot(self.workdir, self.knot_ip)
            zones = [Zone(n, list(DEFAULT_RECORDS), m) for n, m in DEFAULT_ZONES.items()]
            self.knot.start(zones, timeout=max(1.0, deadline - time.monotonic()))
            self.unbound = Unbound(self.workdir, self.resolver_ip, self.knot_ip)
            self.unbound.start(
                self.knot.trust_anchor(), timeout=max(1.0, deadline - time.monotonic())
            )
            self.https = HTTPSServer(self.ca)
        except Exception as e:
            self.stop()
            raise TestNetError(f"test network did not start: {e}") from e
        log.info("test network up: knot %s, unbound %s", self.knot_ip, self.resolver_ip)

    def stop(self) -> None:
        for part in (self.https, self.unbound, self.knot):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        self.https = self.unbound = self.knot = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self.block is not None:
            self.block.release()
            self.block = None

    def __enter__(self) -> TestNet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # DNS

    def _need(self) -> tuple[Knot, Unbound]:
        if self.knot is None or self.unbound is None:
            raise TestNetError("test network not started")
        return self.knot, self.unbound

    def set_zone(self, name: str, records: list[str], dnssec: str = "signed") -> None:
        """Create or replace zone ``name`` (below test.) with ``records``: zone-file lines,
        names relative to the zone or absolute. SOA and NS are added. ``dnssec``:
        "signed" (DS in test.), "unsigned" (no DS), "bogus" (signed, wrong DS).
        Returns when knot serves the change and unbound has forgotten the old data."""
        if dnssec not in MODES:
            raise ValueError(f"dnssec must be one of {MODES}, not {dnssec!r}")
        knot, unbound = self._need()
        zone = _zone_name(name)
        try:
            knot.set_zone(Zone(zone, list(records), dnssec))
        except RuntimeError as e:
            raise TestNetError(f"set_zone({zone}): {e}") from e
        unbound.flush(TLD)

    def remove_zone(self, name: str) -> None:
        knot, unbound = self._need()
        knot.remove_zone(_zone_name(name))
        unbound.flush(TLD)

    def flush(self, name: str = TLD) -> None:
        """Make unbound forget what it cached at or below ``name``."""
        self._need()[1].flush(name)

    def zone_records(self, name: str) -> list[str]:
        knot, _ = self._need()
        return list(knot.zones[_zone_name(name)].records)

    # HTTPS

    def https_serve(
        self,
        host: str,
        path: str,
        body: str | bytes,
        status: int = 200,
        ip: str | None = None,
        cert: str = "valid",
        content_type: str = "text/plain",
    ) -> str:
        """Serve ``body`` at https://host/path on port 443 of ``ip`` (default
        ``https_ip``); returns the IP. ``cert``: one of CERT_KINDS."""
        if self.https is None:
            raise TestNetError("test network not started")
        ip = ip or self.https_ip
        if cert not in CERT_KINDS:
            raise ValueError(f"cert must be one of {CERT_KINDS}, not {cert!r}")
        data = body.encode() if isinstance(body, str) else body
        self.https.serve(ip, host, path, data, status=status, cert=cert, content_type=content_type)
        return ip

    def https_unserve(self, host: str, path: str) -> None:
        if self.https is not None:
            self.https.unserve(host, path)

    @property
    def https_requests(self) -> list[Request]:
        return self.https.requests if self.https is not None else []
