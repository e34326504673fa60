"""Checks of the certificates the listeners serve: validity period, names,
expiry soon. Pure over (files, names, now); used by `config test`, at start,
daily in the log, and on the admin home page."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from postel.config import Config
from postel.config.model import Listener

log = logging.getLogger("postel.certcheck")

WARN_DAYS = 14  # expiry closer than this is a warning every day
DAY = 86400.0


@dataclass(frozen=True)
class CertFinding:
    error: bool  # expired, not yet valid, a name missing; else a warning
    text: str  # one line: which file, what, what to do


def _names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def covers(cert_names: list[str], name: str) -> bool:
    """A DNS-ID match, a wildcard covering one left-most label (RFC 6125 §6.4.3)."""
    name = name.lower().rstrip(".")
    for pattern in cert_names:
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def check_certificate(
    cert_file: Path, names: list[str], now: dt.datetime, where: str
) -> list[CertFinding]:
    """Findings for the first certificate of *cert_file* serving *names*."""
    try:
        cert = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    except (OSError, ValueError, IndexError) as exc:
        return [CertFinding(True, f"{cert_file} ({where}): cannot be read as PEM: {exc}")]
    out: list[CertFinding] = []
    after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if now > after:
        out.append(
            CertFinding(
                True,
                f"{cert_file} ({where}): the certificate expired on {after:%Y-%m-%d %H:%M} UTC; "
                "replace it (or enable [acme])",
            )
        )
    elif after - now < dt.timedelta(days=WARN_DAYS):
        days = (after - now).days
        out.append(
            CertFinding(
                False,
                f"{cert_file} ({where}): the certificate expires on {after:%Y-%m-%d %H:%M} UTC, "
                f"in {days} day{'s' if days != 1 else ''}; replace it soon",
            )
        )
    if now < before:
        out.append(
            CertFinding(
                True,
                f"{cert_file} ({where}): the certificate is not valid before "
                f"{before:%Y-%m-%d %H:%M} UTC; check the clock or the certificate",
            )
        )
    have = _names(cert)
    missing = [n for n in names if not covers(have, n)]
    if missing:
        out.append(
            CertFinding(
                True,
                f"{cert_file} ({where}): the certificate lacks the name"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(it has {', '.join(have) or 'none'}); get one that covers them",
            )
        )
    return out


def wanted_names(hostname: str, lst: Listener, mtasts_domains: Iterable[str]) -> list[str]:
    """The names listener *lst*'s certificate must cover: the mail host, and
    mta-sts.<domain> of *mtasts_domains* (those serving a policy) when it serves
    MTA-STS (RFC 8461 §3.3: the policy host needs a valid certificate)."""
    names = [hostname]
    if lst.web.enabled and lst.web.tls and lst.web.mtasts:
        names += [f"mta-sts.{d}" for d in sorted(mtasts_domains)]
    return names


def check_listeners(cfg: Config, now: dt.datetime | None = None) -> list[CertFinding]:
    """Findings for every certificate file a listener with TLS serves, once each."""
    now = now or dt.datetime.now(dt.UTC)
    out: list[CertFinding] = []
    seen: set[tuple[Path, tuple[str, ...]]] = set()
    mtasts_domains = [d for d, dom in cfg.domains.domains.items() if dom.mta_sts]
    for name, lst in cfg.static.listeners.items():
        uses_tls = (
            lst.submission.enabled
            or lst.submissions.enabled
            or lst.smtp.enabled
            or (lst.web.enabled and lst.web.tls)
        )
        if not uses_tls:
            continue
        names = wanted_names(cfg.static.hostname, lst, mtasts_domains)
        for cert_file, _key in cfg.tls_pairs(lst):
            key = (cert_file, tuple(names))
            if key in seen or not cert_file.exists():
                continue  # a missing file is config test's own error
            seen.add(key)
            out.extend(check_certificate(cert_file, names, now, f"listener {name!r}"))
    return out


def log_findings(cfg: Config) -> list[CertFinding]:
    findings = check_listeners(cfg)
    for f in findings:
        if f.error:
            log.error("tls certificate problem", extra={"detail": f.text})
        else:
            log.warning("tls certificate expires soon", extra={"detail": f.text})
    return findings


async def daily(cfg: Config, interval: float = DAY) -> None:
    """At start and then daily: the findings in the log (until cancelled)."""
    while True:
        try:
            await asyncio.to_thread(log_findings, cfg)
        except Exception:  # a check must never stop the server
            log.exception("certificate check failed")
        await asyncio.sleep(interval)
