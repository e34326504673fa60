"""The DNS checks proper (docs/dns-records.md): pure functions of Facts and Expected.

Each returns a Section with errors, warnings, the records or settings that fix
them, and what was found to be fine.
"""

from __future__ import annotations

import re

from postel.auth.dmarc.record import parse_record as parse_dmarc
from postel.auth.errors import DMARCSyntaxError
from postel.dnscheck.model import Expected, Facts, Found, Section
from postel.mtasts.errors import MTASTSError
from postel.mtasts.match import matches_any
from postel.mtasts.policy import Mode, parse_policy
from postel.mtasts.record import select_record as select_mtasts
from postel.tlsrpt.errors import TLSRPTError
from postel.tlsrpt.record import select_record as select_tlsrpt

MIN_MAX_AGE = 86400  # shorter MTA-STS max_age protects little between fetches (RFC 8461 §3.2)


def _name(value: str) -> str:
    return value.strip().lower().rstrip(".")


def _lines(exp: Expected, topic: str) -> tuple[str, ...]:
    return exp.lines.get(topic, ())


def check_dnssec(facts: Facts) -> Section:
    s = Section("DNSSEC")
    if facts.validating:
        s.info.append(facts.validating_detail or "the resolver validates DNSSEC")
    else:
        s.errors.append(
            "the resolver postel uses does not validate DNSSEC: DANE is off and the DNSSEC "
            f"status of every answer is unknown ({facts.validating_detail})"
        )
        s.fix(
            'postel.toml: [dns] nameservers = ["127.0.0.1"] with a validating resolver '
            "such as unbound running there"
        )
    if facts.mx is not None and facts.mx.ok and not facts.mx.authentic:
        s.warnings.append(
            f"the MX records of {facts.domain} are not DNSSEC-signed: senders cannot use "
            "DANE for this domain; sign the zone at your DNS provider"
        )
    return s


def check_reverse(facts: Facts) -> Section:
    s = Section("Reverse DNS")
    host = _name(facts.hostname)
    if not facts.our_ips:
        s.errors.append(f"no IP address of {host} known: it has no A/AAAA records")
        s.fix(f"{host}. 300 IN A <the public IPv4 address of this server>")
        return s
    addresses: set[str] = set()
    for f in (facts.host_a, facts.host_aaaa):
        if f is not None and f.ok:
            addresses.update(v.lower() for v in f.values)
    for ip in facts.our_ips:
        rtype = "AAAA" if ":" in ip else "A"
        if ip.lower() not in addresses:
            s.errors.append(
                f"{host} has no {rtype} record with {ip}, the address postel sends from"
            )
            s.fix(f"{host}. 300 IN {rtype} {ip}")
        ptr = facts.ptr.get(ip)
        if ptr is None:
            continue
        if not ptr.ok:
            s.errors.append(f"{ip} has no reverse DNS name: {ptr.problem()}")
            s.fix(f"PTR of {ip} -> {host}. (ask the provider of the address)")
        elif host not in {_name(v) for v in ptr.values}:
            shown = ", ".join(_name(v) for v in ptr.values)
            s.errors.append(f"the reverse DNS name of {ip} is {shown}, not {host}")
            s.fix(f"PTR of {ip} -> {host}. (ask the provider of the address)")
        else:
            s.info.append(f"{ip} has reverse DNS name {host}")
    return s


def mx_hosts(mx: Found | None) -> list[tuple[int, str]]:
    """(preference, host) of an MX lookup, lowest preference first."""
    out: list[tuple[int, str]] = []
    if mx is None or not mx.ok:
        return out
    for value in mx.values:
        parts = value.split()
        if len(parts) == 2 and parts[0].isdigit():
            out.append((int(parts[0]), _name(parts[1])))
    return sorted(out)


def check_mx(facts: Facts, exp: Expected) -> Section:
    s = Section("MX")
    host = _name(exp.mx_host)
    if facts.mx is None or not facts.mx.ok:
        s.errors.append(facts.mx.problem() if facts.mx else f"no MX records for {facts.domain}")
        s.fix(*_lines(exp, "mx"))
        return s
    hosts = mx_hosts(facts.mx)
    names = [h for _, h in hosts]
    if host not in names:
        s.errors.append(
            f"the MX records of {facts.domain} point to {', '.join(names) or 'nothing'}, "
            f"not to this server ({host})"
        )
        s.fix(*_lines(exp, "mx"))
    else:
        s.info.append(f"MX of {facts.domain} points to {host}")
        others = [h for h in names if h != host]
        if others:
            s.warnings.append(
                f"other MX hosts receive mail for {facts.domain} too: {', '.join(others)}"
            )
    if names == [""]:
        s.errors.append(f"{facts.domain} has a null MX: it refuses all mail (RFC 7505)")
    return s


def check_starttls(facts: Facts, exp: Expected) -> Section:
    s = Section("STARTTLS")
    if not facts.probes:
        s.warnings.append("no MX host to connect to")
        return s
    for p in facts.probes:
        where = f"{p.host}" + (f" ({p.ip})" if p.ip else "")
        if p.error:
            s.errors.append(f"{where}: {p.error}")
        elif not p.starttls:
            s.errors.append(f"{where}: STARTTLS not offered")
        elif p.cert_error:
            s.errors.append(f"{where}: certificate not valid: {p.cert_error}")
        else:
            s.info.append(f"{where}: STARTTLS with a valid certificate")
    if s.errors:
        s.fix(
            f"postel.toml: the listener's tls_cert_file must hold a certificate for "
            f"{_name(exp.mx_host)} from a public CA (e.g. via ACME), with its chain"
        )
    return s


def check_tlsa(facts: Facts, exp: Expected) -> Section:
    s = Section("TLSA (DANE)")
    f = facts.tlsa
    if f is None:
        s.info.append("no TLSA check: the MX is not this server")
        return s
    want = {v.lower() for v in exp.tlsa}
    if not f.ok:
        if f.missing:
            s.warnings.append(
                f"no TLSA records at {f.name}: senders cannot use DANE to protect mail to you"
            )
        else:
            s.errors.append(f.problem())
        s.fix(*exp.tlsa_line)
        return s
    have = {" ".join(v.lower().split()) for v in f.values}
    if not f.authentic:
        s.warnings.append(
            f"the TLSA records at {f.name} are not DNSSEC-signed, so senders ignore them"
        )
    if not have & want:
        s.errors.append(
            f"no TLSA record at {f.name} matches this server's key: senders using DANE will "
            "not deliver (records found: " + "; ".join(sorted(have)) + ")"
        )
        s.fix(*exp.tlsa_line)
    else:
        missing = want - have
        if missing:
            s.warnings.append(
                "TLSA records for some of this server's keys are missing: "
                + "; ".join(sorted(missing))
            )
            s.fix(*exp.tlsa_line)
        extra = have - want
        if extra:
            s.warnings.append(
                "TLSA records that match no key of this server (remove them once no longer "
                "needed for a key rollover): " + "; ".join(sorted(extra))
            )
        s.info.append(f"TLSA records at {f.name} match this server's key")
    return s


def _spf(
    s: Section,
    f: Found | None,
    results: dict[str, tuple[str, str]],
    name: str,
    fixes: tuple[str, ...],
    *,
    required: bool,
) -> None:
    problems = s.errors if required else s.warnings
    records = [v for v in (f.values if f and f.ok else ()) if re.match(r"(?i)v=spf1( |$)", v)]
    if f is not None and f.error:
        problems.append(f.problem())
        s.fix(*fixes)
        return
    if not records:
        problems.append(f"no SPF record at {name}")
        s.fix(*fixes)
        return
    if len(records) > 1:
        s.errors.append(f"{len(records)} SPF records at {name}: there must be one (RFC 7208 §4.5)")
        s.fix(*fixes)
    for ip, (result, why) in sorted(results.items()):
        if result != "pass":
            problems.append(f"SPF of {name} gives {result} for {ip}, this server: {why}")
            s.fix(*fixes)
        else:
            s.info.append(f"SPF of {name} passes for {ip}")


def check_spf(facts: Facts, exp: Expected) -> Section:
    s = Section("SPF")
    _spf(s, facts.spf, facts.spf_results, facts.domain, _lines(exp, "spf"), required=True)
    _spf(
        s,
        facts.host_spf,
        facts.host_spf_results,
        _name(facts.hostname),
        _lines(exp, "host_spf"),
        required=False,
    )
    return s


def _dkim_p(value: str) -> str:
    for part in value.split(";"):
        key, _, val = part.strip().partition("=")
        if key.strip() == "p":
            return "".join(val.split())
    return ""


def check_dkim(facts: Facts, exp: Expected) -> Section:
    s = Section("DKIM")
    if not exp.dkim:
        s.warnings.append(f"{facts.domain} signs with no DKIM key: configure dkim.sign")
        s.fix(f'domains.toml: [domains."{facts.domain}".dkim] sign = [...] with selectors')
        return s
    for sel, (value, line) in sorted(exp.dkim.items()):
        f = facts.dkim.get(sel)
        if f is None or not f.ok:
            s.errors.append(f.problem() if f else f"no DKIM record for selector {sel}")
            s.fix(line)
            continue
        want = _dkim_p(value)
        have = [_dkim_p(v) for v in f.values]
        if want not in have:
            s.errors.append(
                f"the DKIM key at {f.name} is not the key postel signs with: "
                "receivers will see failing signatures"
            )
            s.fix(line)
        else:
            s.info.append(f"DKIM key of selector {sel} matches")
    return s


def check_dmarc(facts: Facts, exp: Expected) -> Section:
    s = Section("DMARC")
    f = facts.dmarc
    fixes = _lines(exp, "dmarc")
    if f is None or not f.ok:
        s.errors.append(f.problem() if f else "no DMARC record")
        s.fix(*fixes)
        return s
    records = [v for v in f.values if re.match(r"v[ \t]*=[ \t]*DMARC1", v)]
    if len(records) != 1:
        s.errors.append(f"{len(records)} DMARC records at {f.name}: there must be exactly one")
        s.fix(*fixes)
        return s
    try:
        rec = parse_dmarc(records[0])
    except DMARCSyntaxError as exc:
        s.errors.append(f"the DMARC record at {f.name} is invalid: {exc}")
        s.fix(*fixes)
        return s
    if str(rec.policy) == "none" or rec.policy_missing:
        s.warnings.append(
            "DMARC policy is p=none: receivers do not act on failing mail; use p=reject "
            "(or quarantine) once reports show your mail passes"
        )
        s.fix(*fixes)
    if exp.dmarc_rua:
        ruas = [u.lower().split("!")[0] for u in rec.rua]
        if f"mailto:{exp.dmarc_rua}".lower() not in ruas:
            s.warnings.append(
                f"the DMARC record does not send aggregate reports to {exp.dmarc_rua}"
            )
            s.fix(*fixes)
    if not s.warnings:
        s.info.append(f"DMARC record: {records[0]}")
    return s


def _tlsrpt(s: Section, f: Found | None, rua: str, fixes: tuple[str, ...], what: str) -> None:
    if f is None:
        return
    if not f.ok:
        s.errors.append(f"no TLS reporting record for {what}: {f.problem()}")
        s.fix(*fixes)
        return
    try:
        rec = select_tlsrpt(list(f.values))
    except TLSRPTError as exc:
        s.errors.append(f"the TLS reporting record at {f.name} is invalid: {exc}")
        s.fix(*fixes)
        return
    if rec is None:
        s.errors.append(f"no v=TLSRPTv1 record at {f.name}")
        s.fix(*fixes)
        return
    if rua.lower() not in (a.lower() for a in rec.mailto_addresses()):
        s.warnings.append(f"the TLS reporting record at {f.name} does not send reports to {rua}")
        s.fix(*fixes)
    else:
        s.info.append(f"TLS reports for {what} go to {rua}")


def check_tlsrpt(facts: Facts, exp: Expected) -> Section:
    s = Section("TLS reporting")
    if exp.tlsrpt_rua:
        _tlsrpt(s, facts.tlsrpt, exp.tlsrpt_rua, _lines(exp, "tlsrpt"), facts.domain)
    else:
        s.warnings.append(
            f"no TLS report address configured for {facts.domain}: you do not learn when "
            "senders fail to reach you securely"
        )
        s.fix(
            f'domains.toml: [domains."{facts.domain}".tlsrpt_reports] localpart, account, mailbox'
        )
    if exp.host_tlsrpt_rua:
        _tlsrpt(
            s,
            facts.host_tlsrpt,
            exp.host_tlsrpt_rua,
            _lines(exp, "host_tlsrpt"),
            _name(facts.hostname),
        )
    return s


def check_mtasts(facts: Facts, exp: Expected) -> Section:
    s = Section("MTA-STS")
    f = facts.mtasts_record
    fixes = _lines(exp, "mtasts")
    if not exp.mtasts_id:
        if f is not None and f.ok:
            s.warnings.append(
                f"{f.name} has an MTA-STS record but postel serves no policy for {facts.domain}"
            )
        s.warnings.append(f"no MTA-STS policy configured for {facts.domain}")
        s.fix(
            f'domains.toml: [domains."{facts.domain}".mta_sts] policy_id, mode = '
            '"enforce", max_age, mx'
        )
        return s
    if f is None or not f.ok:
        s.errors.append(f.problem() if f else "no MTA-STS record")
        s.fix(*fixes)
    else:
        try:
            rec = select_mtasts(f.values)
        except MTASTSError as exc:
            s.errors.append(f"the MTA-STS record at {f.name} is invalid: {exc}")
            s.fix(*fixes)
        else:
            if rec.id != exp.mtasts_id:
                s.errors.append(
                    f"the MTA-STS record has id={rec.id}, the configured policy has "
                    f"id {exp.mtasts_id}: senders keep an old policy"
                )
                s.fix(*fixes)
            else:
                s.info.append(f"MTA-STS record with id {rec.id}")
    p = facts.mtasts_policy
    if p is None:
        return s
    if p.error:
        s.errors.append(f"the policy could not be fetched: {p.error}")
        s.fix(*fixes)
        s.fix(
            "postel.toml: a listener with web = { enabled = true, port = 443, tls = true, "
            f"mtasts = true }} and a certificate valid for mta-sts.{facts.domain}"
        )
        return s
    try:
        policy = parse_policy(p.text)
    except MTASTSError as exc:
        s.errors.append(f"the served policy is invalid: {exc}")
        return s
    if policy.mode is Mode.TESTING:
        s.warnings.append("policy mode is testing: senders deliver even when TLS fails")
    elif policy.mode is Mode.NONE:
        s.warnings.append("policy mode is none: MTA-STS is switched off")
    if policy.max_age < MIN_MAX_AGE:
        s.warnings.append(
            f"max_age is {policy.max_age} s: a policy this short-lived protects little; "
            f"use at least {MIN_MAX_AGE} (one day), e.g. 604800"
        )
    hosts = [h for _, h in mx_hosts(facts.mx)]
    if policy.mode is not Mode.NONE:
        for h in hosts:
            if not matches_any(policy.mx, h):
                s.errors.append(
                    f"MX host {h} is not allowed by the policy's mx lines "
                    f"({', '.join(policy.mx)}): MTA-STS senders will not deliver there"
                )
    if exp.mtasts_policy and p.text.replace("\r\n", "\n") != exp.mtasts_policy.replace(
        "\r\n", "\n"
    ):
        s.warnings.append("the policy served differs from the configured one")
    if not s.errors and not s.warnings:
        s.info.append(f"policy served: mode {policy.mode.value}, max_age {policy.max_age}")
    return s


def check_client(facts: Facts, exp: Expected) -> Section:
    s = Section("Client settings")
    host = _name(exp.mx_host)
    for line in _lines(exp, "client"):
        name, rtype, value = _split_line(line)
        f = facts.client.get(name)
        if f is None:
            continue
        want = " ".join(value.lower().split())
        have = {" ".join(_name_value(v).split()) for v in f.values} if f.ok else set()
        if f.ok and want in have:
            s.info.append(f"{name} {rtype} {value}")
            continue
        if rtype == "CNAME" and f.ok and host in have:
            continue
        if f.ok:
            s.warnings.append(f"{name} {rtype} is {', '.join(sorted(have))}, expected {value}")
        else:
            s.warnings.append(f"{f.problem()}: mail clients cannot find their settings")
        s.fix(line)
    return s


def _name_value(v: str) -> str:
    return v.strip().lower()


def _split_line(line: str) -> tuple[str, str, str]:
    """(name, type, rdata) of a zone line "name ttl IN type rdata"."""
    parts = line.split(None, 4)
    return parts[0].rstrip(".").lower(), parts[3], parts[4] if len(parts) > 4 else ""


def all_sections(facts: Facts, exp: Expected) -> list[Section]:
    return [
        check_dnssec(facts),
        check_reverse(facts),
        check_mx(facts, exp),
        check_starttls(facts, exp),
        check_tlsa(facts, exp),
        check_spf(facts, exp),
        check_dkim(facts, exp),
        check_dmarc(facts, exp),
        check_tlsrpt(facts, exp),
        check_mtasts(facts, exp),
        check_client(facts, exp),
    ]
