"""The admin's certificates page: the certificate files the listeners serve, their
problems, and with ACME the host keys, the renewal plan and the last error."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from starlette.requests import Request
from starlette.responses import Response

from postel.acme.schedule import cert_names, is_self_signed
from postel.web.admin.guard import page, render
from postel.web.admin.state import admin_state


@dataclass(frozen=True)
class ServedCert:
    path: Path
    listeners: list[str]
    issuer: str | None
    not_after: dt.datetime | None
    names: list[str]
    problem: str | None


def served_certificates(cert_files: Mapping[str, Sequence[Path]]) -> list[ServedCert]:
    """Each certificate file a TLS listener serves (*cert_files*: by listener
    name), once, with the listeners using it."""
    users: dict[Path, list[str]] = {}
    for name, files in cert_files.items():
        for cert_file in files:
            users.setdefault(cert_file, []).append(name)
    out: list[ServedCert] = []
    for path, listeners in sorted(users.items()):
        try:
            leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
        except (OSError, ValueError, IndexError) as exc:
            out.append(ServedCert(path, listeners, None, None, [], f"cannot be read: {exc}"))
            continue
        issuer = "self-signed" if is_self_signed(leaf) else leaf.issuer.rfc4514_string()
        out.append(
            ServedCert(
                path, listeners, issuer, leaf.not_valid_after_utc, sorted(cert_names(leaf)), None
            )
        )
    return out


@page
async def index(request: Request) -> Response:
    from postel.acme.status import View, view
    from postel.acme.storage import CertStore
    from postel.certcheck import check_listeners

    cfg = admin_state(request).cfg
    now = dt.datetime.now(dt.UTC)
    findings = await asyncio.to_thread(check_listeners, cfg, now)
    # The ACME host keys' files are listed from the data directory: off the loop.
    served = await asyncio.to_thread(lambda: served_certificates(cfg.listener_cert_files()))
    acme: View | None = None
    if cfg.static.acme.enabled:
        acme = await asyncio.to_thread(view, CertStore(cfg.datadir.root), now)
    return render(
        request,
        "admin/certificates.html",
        findings=findings,
        served=served,
        acme=acme,
        acme_directory=cfg.static.acme.directory_url if cfg.static.acme.enabled else None,
        now=now,
    )
