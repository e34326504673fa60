"""Debian's pebble (a test ACME CA) and pebble-challtestsrv (its DNS) on loopback.

pebble-challtestsrv answers every A query with 127.0.0.1 (and no AAAA), so
pebble validates each name against the postel listeners on 127.0.0.1: the
TLS-ALPN-01 port and the HTTP-01 port given here are postel's. Validation is
real (no PEBBLE_VA_ALWAYS_VALID); pebble's own HTTPS certificate comes from a
trustme CA whose PEM is :attr:`Pebble.ca_file`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import trustme

IP = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((IP, 0))
        return int(s.getsockname()[1])


class Pebble:
    def __init__(
        self,
        workdir: Path,
        *,
        tls_port: int,
        http_port: int,
        validity: int = 3600,
        port: int = 0,
        eab: dict[str, str] | None = None,
        binary: str = "pebble",
    ) -> None:
        self.binary = binary  # Debian's, or the newer one with ARI (ari_pebble())
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls_port = tls_port
        self.http_port = http_port
        self.validity = validity
        self.eab = eab or {}  # kid -> base64url HMAC key; required when given
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dns_port = free_port()  # challtestsrv's DNS: every name is 127.0.0.1
        self.mgmt_port = free_port()
        ca = trustme.CA()
        leaf = ca.issue_cert(IP, "localhost")
        self.ca_file = self.dir / "pebble-api-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        leaf.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))

    @property
    def directory(self) -> str:
        return f"https://{IP}:{self.port}/dir"

    def start(self, timeout: float = 20.0) -> None:
        dns_port, mgmt = self.dns_port, self.mgmt_port
        self._spawn(
            [
                "pebble-challtestsrv",
                "-defaultIPv4",
                IP,
                "-defaultIPv6",
                "",
                "-dns01",
                f"{IP}:{dns_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"{IP}:{mgmt}",
            ],
            "challtestsrv.log",
            {},
        )
        config = {
            "pebble": {
                "listenAddress": f"{IP}:{self.port}",
                "managementListenAddress": f"{IP}:{free_port()}",
                "certificate": str(self.dir / "cert.pem"),
                "privateKey": str(self.dir / "key.pem"),
                "httpPort": self.http_port,
                "tlsPort": self.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": bool(self.eab),
                "externalAccountMACKeys": self.eab,
                "certificateValidityPeriod": self.validity,
            }
        }
        (self.dir / "pebble.json").write_text(json.dumps(config))
        env = {
            "PEBBLE_VA_NOSLEEP": "1",  # validate at once
            "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce
            "PEBBLE_AUTHZREUSE": "0",  # every order validates again
        }
        self._spawn(
            [
                self.binary,
                "-config",
                str(self.dir / "pebble.json"),
                "-dnsserver",
                f"{IP}:{dns_port}",
                "-strict",
            ],
            "pebble.log",
            env,
        )
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.directory, context=ctx, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pebble did not start: {self.log()}")
            time.sleep(0.1)

    def servfail(self, host: str) -> None:
        """From now on challtestsrv answers SERVFAIL for *host* (to pebble's
        validation and to postel, which both resolve through it)."""
        req = urllib.request.Request(
            f"http://{IP}:{self.mgmt_port}/set-servfail",
            data=json.dumps({"host": host.rstrip(".") + "."}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200, resp.status

    def _spawn(self, argv: list[str], logname: str, env: dict[str, str]) -> None:
        log = open(self.dir / logname, "ab")  # noqa: SIM115
        try:
            self.procs.append(
                subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, **env},
                )
            )
        finally:
            log.close()

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "pebble.log").read_text("utf-8", "replace")[-3000:]
        return ""

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()


def ari_pebble() -> str:
    """The pebble that offers renewalInfo (ARI): Debian trixie's 2.6, unpacked by
    scripts/fetch-pebble-ari (`make system-deps`); bookworm's 2.4 has none."""
    path = Path(__file__).resolve().parents[3] / ".cache" / "tools" / "pebble-ari" / "pebble"
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is missing: run scripts/fetch-pebble-ari (make system-deps)")
    return str(path)
