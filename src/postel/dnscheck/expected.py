"""What the DNS should hold for a domain, from the suggested records (postel.dnsrecords)."""

from __future__ import annotations

from postel.config import Config
from postel.dnscheck.model import Expected
from postel.dnsrecords import Record, domain_records, host_records, mtasts_policy_text


def _topic(r: Record, domain: str, host: str) -> str:
    name = r.name.rstrip(".").lower()
    if r.rtype == "TLSA":
        return "tlsa"
    if r.rtype == "MX":
        return "mx"
    if r.rtype == "CAA":
        return "caa"
    if name == host and r.rtype == "TXT" and "v=spf1" in r.value:
        return "host_spf"
    if name == domain and r.rtype == "TXT" and "v=spf1" in r.value:
        return "spf"
    if name == f"_dmarc.{domain}":
        return "dmarc"
    if name == f"_smtp._tls.{domain}":
        return "tlsrpt"
    if name == f"_smtp._tls.{host}":
        return "host_tlsrpt"
    if name in (f"mta-sts.{domain}", f"_mta-sts.{domain}"):
        return "mtasts"
    if "._domainkey." in name:
        return "dkim"
    return "client"


def zone_line(r: Record) -> str:
    return f"{r.name} 300 IN {r.rtype} {r.value}"


def expected_for(cfg: Config, domain: str) -> Expected:
    host = cfg.static.hostname.lower().rstrip(".")
    dom = cfg.domains.domains[domain]
    lines: dict[str, list[str]] = {}
    dkim: dict[str, tuple[str, str]] = {}
    tlsa: list[str] = []
    for r in host_records(cfg) + domain_records(cfg, domain):
        topic = _topic(r, domain, host)
        lines.setdefault(topic, []).append(zone_line(r))
        if topic == "tlsa":
            tlsa.append(r.value)
        if topic == "dkim":
            sel = r.name.split("._domainkey.")[0]
            value = "".join(part.strip('"') for part in r.value.split('" "'))
            dkim[sel] = (value, zone_line(r))
    st = cfg.static.host_tlsrpt
    return Expected(
        mx_host=host,
        tlsa=tuple(tlsa),
        tlsa_line=tuple(lines.get("tlsa", ())),
        dkim=dkim,
        lines={k: tuple(v) for k, v in lines.items()},
        dmarc_rua=f"{dom.dmarc_reports.localpart}@{domain}" if dom.dmarc_reports else "",
        tlsrpt_rua=f"{dom.tlsrpt_reports.localpart}@{domain}" if dom.tlsrpt_reports else "",
        host_tlsrpt_rua=f"{st.localpart}@{host}" if st.localpart else "",
        mtasts_id=dom.mta_sts.policy_id if dom.mta_sts else "",
        mtasts_policy=mtasts_policy_text(dom.mta_sts, cfg.static.hostname) or "",
    )
