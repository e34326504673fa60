"""The DNS records a domain needs, as zone-file text (docs/dns-records.md).

Pure: everything comes from the configuration and the public keys passed in.
Used by quickstart and by the admin's "DNS records" page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from postel.acme.storage import CertStore
from postel.auth.dkim_key import public_key_record
from postel.clientsetup import ClientServices, Endpoint, client_services
from postel.clientsetup.services import autodiscover_port
from postel.config import Config
from postel.config.domains import MTASTSPolicy
from postel.config.keys import load_private_key
from postel.config.model import (
    LETSENCRYPT_DIRECTORY,
    LETSENCRYPT_STAGING_DIRECTORY,
    ACMEConfig,
)
from postel.hostkeys import cert_file_spki_sha256


@dataclass(frozen=True)
class Record:
    name: str  # absolute, with trailing dot
    rtype: str
    value: str  # zone-file rdata text
    comment: str = ""
    commented_out: bool = False

    def zone_line(self) -> str:
        line = f"{self.name} 300 IN {self.rtype} {self.value}"
        if self.commented_out:
            line = "; " + line
        return f";; {self.comment}\n{line}" if self.comment else line


def txt(value: str) -> str:
    """TXT rdata: strings of at most 255 octets (RFC 1035 §3.3.14)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def dkim_txt(key_file: Path, algorithm: str) -> str:
    """The DKIM TXT value for a configured key file (RFC 6376 §3.6.1)."""
    return public_key_record(load_private_key(key_file, algorithm))


def host_records(cfg: Config, *, dnssec: bool = True) -> list[Record]:
    """Records about the mail host itself: TLSA per host key, SPF, host TLSRPT."""
    host = cfg.static.hostname
    out: list[Record] = []
    seen: set[str] = set()
    needs = "" if dnssec else ", so left commented out"
    for lst in cfg.static.listeners.values():
        if not lst.smtp.enabled:
            continue
        keys: list[tuple[str, str]] = []  # (digest, comment)
        if lst.tls_cert_file:
            keys.append(
                (
                    cert_file_spki_sha256(cfg.path(lst.tls_cert_file)),
                    "DANE: SHA-256 of the host key (RFC 7672); needs DNSSEC" + needs,
                )
            )
        elif cfg.static.acme.enabled:
            # ACME keeps these keys across renewals (postel.acme): the records stay.
            for kind, digest, is_next in CertStore(cfg.datadir.root).tlsa_digests():
                comment = (
                    f"DANE: the NEXT {kind.upper()} host key (rollover, RFC 7671 §8.1): publish "
                    "it now; postel switches to it once it sees this record"
                    if is_next
                    else f"DANE: SHA-256 of the {kind.upper()} host key (RFC 7672); needs DNSSEC"
                )
                keys.append((digest, comment + needs))
        for digest, comment in keys:
            if digest in seen:
                continue
            seen.add(digest)
            out.append(
                Record(
                    f"_25._tcp.{host}.",
                    "TLSA",
                    f"3 1 1 {digest}",
                    comment,
                    commented_out=not dnssec,
                )
            )
    out.append(Record(f"{host}.", "TXT", txt("v=spf1 a -all"), "SPF for the host name (HELO)"))
    if cfg.static.host_tlsrpt.localpart:
        rua = f"mailto:{cfg.static.host_tlsrpt.localpart}@{host}"
        out.append(
            Record(
                f"_smtp._tls.{host}.",
                "TXT",
                txt(f"v=TLSRPTv1; rua={rua}"),
                "TLS reports about this MX host (DANE, RFC 8460)",
            )
        )
    return out


def domain_records(cfg: Config, domain: str) -> list[Record]:
    """Records for one hosted domain."""
    dom = cfg.domains.domains[domain]
    host = cfg.static.hostname
    out: list[Record] = [
        Record(f"{domain}.", "MX", f"10 {host}.", "Mail for the domain goes to this host"),
        Record(f"{domain}.", "TXT", txt("v=spf1 mx -all"), "SPF: only our MX sends"),
    ]
    for sel in dom.dkim.sign:
        selector = dom.dkim.selectors[sel]
        value = dkim_txt(cfg.path(selector.key_file), selector.algorithm)
        out.append(
            Record(
                f"{sel}._domainkey.{domain}.",
                "TXT",
                txt(value),
                f"DKIM public key, selector {sel} ({selector.algorithm})",
            )
        )
    dmarc = "v=DMARC1; p=reject"
    if dom.dmarc_reports is not None:
        dmarc += f"; rua=mailto:{dom.dmarc_reports.localpart}@{domain}"
    out.append(Record(f"_dmarc.{domain}.", "TXT", txt(dmarc), "DMARC policy (RFC 7489)"))
    if dom.mta_sts is not None:
        out.append(
            Record(
                f"mta-sts.{domain}.",
                "CNAME",
                f"{host}.",
                "MTA-STS policy host, served by postel (RFC 8461 §3.3)",
            )
        )
        out.append(
            Record(
                f"_mta-sts.{domain}.",
                "TXT",
                txt(f"v=STSv1; id={dom.mta_sts.policy_id}"),
                "MTA-STS record; change id when the policy changes (RFC 8461 §3.1)",
            )
        )
    if dom.tlsrpt_reports is not None:
        rua = f"mailto:{dom.tlsrpt_reports.localpart}@{domain}"
        out.append(
            Record(
                f"_smtp._tls.{domain}.",
                "TXT",
                txt(f"v=TLSRPTv1; rua={rua}"),
                "TLS reports for the domain (RFC 8460 §3)",
            )
        )
    out.extend(client_records(cfg, domain))
    out.extend(caa_records(cfg.static.acme, CertStore(cfg.datadir.root), domain))
    return out


def caa_records(a: ACMEConfig, store: CertStore, domain: str) -> list[Record]:
    """CAA: only the CA in use may issue (RFC 8659), with ACME only to postel's
    account and by its challenge (RFC 8657 accounturi, validationmethods); the
    CA's issuer domains and the account come from the ACME state in *store*."""
    if not a.enabled:
        return [
            Record(
                f"{domain}.",
                "CAA",
                '0 issue "letsencrypt.org"',
                "CAA: only this ACME CA may issue certificates for the domain (RFC 8659); "
                "name yours if you use another",
            )
        ]
    issuers = store.caa_identities(a.directory_url)
    if not issuers and a.directory_url in (LETSENCRYPT_DIRECTORY, LETSENCRYPT_STAGING_DIRECTORY):
        issuers = ["letsencrypt.org"]
    account = store.account_uri(a.directory_url)
    if not issuers:
        return [
            Record(
                f"{domain}.",
                "CAA",
                '0 issue "ca.example"',
                "CAA: the CA's issuer domain is known once postel has registered with it "
                f"({a.directory_url}); until then this record is only an example",
                commented_out=True,
            )
        ]
    params = ""
    if account:
        params += f"; accounturi={account}"
    params += f"; validationmethods={a.challenge}"
    comment = (
        "CAA: only this CA may issue for the domain (RFC 8659), and only to postel's ACME "
        "account by its challenge (RFC 8657)"
    )
    if not account:
        comment += "; the account URI is added once postel has registered"
    return [
        Record(f"{domain}.", "CAA", f'0 issue "{issuer}{params}"', comment) for issuer in issuers
    ]


def client_records(cfg: Config, domain: str) -> list[Record]:
    """Client settings: autoconfig host name and SRV records (RFC 6186, RFC 8314)."""
    host = cfg.static.hostname
    services = client_services(cfg.static)
    return [
        Record(
            f"autoconfig.{domain}.",
            "CNAME",
            f"{host}.",
            "Client settings (autoconfig) are served by the mail host",
        ),
        *submission_records(services, domain),
        *imap_records(services, domain),
        Record(f"_pop3s._tcp.{domain}.", "SRV", "0 0 0 .", "No POP3 service (RFC 6186 §4)"),
        *autodiscover_records(cfg, domain),
    ]


def autodiscover_records(cfg: Config, domain: str) -> list[Record]:
    """Outlook's Autodiscover by SRV, at the mail host's HTTPS port: its
    certificate names the mail host, so no autodiscover.<domain> name is needed."""
    port = autodiscover_port(cfg.static)
    if port is None:
        return []
    host = cfg.static.hostname
    return [
        Record(
            f"_autodiscover._tcp.{domain}.",
            "SRV",
            f"0 0 {port} {host}.",
            "Outlook finds the IMAP and submission settings at the mail host (Autodiscover)",
        )
    ]


def _srv(
    domain: str, host: str, label: str, prio: int, endpoints: tuple[Endpoint, ...], what: str
) -> Record:
    """One SRV record: the first endpoint's port (the listener's, postel.clientsetup),
    or "0 0 0 ." when no public listener offers the service (RFC 6186 §4)."""
    if not endpoints:
        return Record(
            f"{label}._tcp.{domain}.", "SRV", "0 0 0 .", f"No {what} service (RFC 6186 §4)"
        )
    return Record(
        f"{label}._tcp.{domain}.",
        "SRV",
        f"{prio} 1 {endpoints[0].port} {host}.",
        f"Mail clients: {what} (RFC 6186, RFC 8314)",
    )


def _kind(endpoints: tuple[Endpoint, ...], security: str) -> tuple[Endpoint, ...]:
    return tuple(ep for ep in endpoints if ep.security == security)


def submission_records(services: ClientServices, domain: str) -> list[Record]:
    """Submission over TLS (465) preferred, STARTTLS (587) next (RFC 8314 §5.1)."""
    subs = services.submission
    return [
        _srv(domain, services.hostname, "_submissions", 0, _kind(subs, "tls"), "submission"),
        _srv(domain, services.hostname, "_submission", 1, _kind(subs, "starttls"), "submission"),
    ]


def imap_records(services: ClientServices, domain: str) -> list[Record]:
    """IMAP over TLS (993) preferred, STARTTLS (143) next (RFC 6186 §3.2, RFC 8314
    §5.1); "0 0 0 ." for a kind no public listener offers (RFC 6186 §4)."""
    imap = services.imap
    return [
        _srv(domain, services.hostname, "_imaps", 0, _kind(imap, "tls"), "IMAP"),
        _srv(domain, services.hostname, "_imap", 1, _kind(imap, "starttls"), "IMAP"),
    ]


def mtasts_policy_text(policy: MTASTSPolicy | None, hostname: str) -> str | None:
    """The policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt
    for the domain's *policy*; its mx defaults to the mail host *hostname*."""
    if policy is None:
        return None
    lines = ["version: STSv1", f"mode: {policy.mode}"]
    for mx in policy.mx or [hostname]:
        lines.append(f"mx: {mx}")
    lines.append(f"max_age: {policy.max_age}")
    return "\r\n".join(lines) + "\r\n"


def zone_text(records: list[Record]) -> str:
    return "\n".join(r.zone_line() for r in records) + "\n"
