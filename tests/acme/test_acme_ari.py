"""ARI (RFC 9773): the renewal time comes from the window the CA suggests when
its directory has renewalInfo. A small directory on loopback stands in for the
CA (pebble 2.4 in Debian has no renewalInfo)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from postel.acme.challenges import Challenges
from postel.acme.client import Settings, ari_time
from postel.acme.manager import ACMEManager
from postel.acme.storage import CertStore

START = dt.datetime(2030, 1, 10, tzinfo=dt.UTC)
END = dt.datetime(2030, 1, 12, tzinfo=dt.UTC)


class Directory:
    def __init__(self, with_ari: bool) -> None:
        self.with_ari = with_ari
        self.ari_requests: list[str] = []
        directory = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                if self.path == "/dir":
                    body: dict[str, object] = {
                        "newNonce": base + "/nonce",
                        "newAccount": base + "/acct",
                        "newOrder": base + "/order",
                    }
                    if directory.with_ari:
                        body["renewalInfo"] = base + "/ari"
                elif self.path.startswith("/ari/"):
                    directory.ari_requests.append(self.path)
                    body = {
                        "suggestedWindow": {
                            "start": START.isoformat().replace("+00:00", "Z"),
                            "end": END.isoformat().replace("+00:00", "Z"),
                        }
                    }
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dir"

    def __enter__(self) -> Directory:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ca_issued(tmp_path: Path) -> Iterator[bytes]:
    ca = trustme.CA()
    leaf = ca.issue_cert("mail.example.org")
    yield leaf.cert_chain_pems[0].bytes()


def test_time_in_the_suggested_window(ca_issued: bytes) -> None:
    with Directory(with_ari=True) as d:
        when = ari_time(Settings(d.url), ca_issued)
    assert when is not None and START <= when <= END
    # The certificate's ID: base64url(AKI keyIdentifier) "." base64url(serial) (§4.1)
    assert len(d.ari_requests) == 1 and "." in d.ari_requests[0]


def test_no_renewal_info(ca_issued: bytes) -> None:
    with Directory(with_ari=False) as d:
        assert ari_time(Settings(d.url), ca_issued) is None


def test_unreachable_ca_means_no_ari(ca_issued: bytes) -> None:
    assert ari_time(Settings("http://127.0.0.1:9/dir"), ca_issued) is None


async def test_manager_renews_in_the_ari_window(tmp_path: Path, ca_issued: bytes) -> None:
    store = CertStore(tmp_path)
    with Directory(with_ari=True) as d:
        manager = ACMEManager(
            Settings(d.url), store, lambda: ["mail.example.org"], Challenges(),
            retry_min=1, retry_max=2, rng=random.Random(3),
        )  # fmt: skip
        cert = x509.load_pem_x509_certificate(ca_issued)
        now = dt.datetime.now(dt.UTC)
        when = await manager._renew_time(cert, now)
        assert START <= when <= END
        await manager._renew_time(cert, now)  # asked again only after ARI_REFRESH
        assert len(d.ari_requests) == 1
