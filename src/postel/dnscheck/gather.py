"""Looking up everything the checks need (the I/O half of the DNS check)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field

import dns.reversename

from postel.config import Config
from postel.dns import DNSError, NotFound, Resolver
from postel.dns.check import check_validating
from postel.dnscheck.checks import mx_hosts
from postel.dnscheck.expected import _topic
from postel.dnscheck.model import Expected, Facts, Found, PolicyFetch, Probe
from postel.dnscheck.starttls import probe
from postel.dnsrecords import domain_records

log = logging.getLogger("postel.dnscheck")

MAX_MX_PROBED = 5
ADDRESSES_PER_MX = 2


@dataclass(frozen=True)
class CheckOptions:
    """How to reach things: ports (tests use others), extra CAs, time limits."""

    smtp_port: int = 25
    https_port: int = 443
    ca_files: tuple[str, ...] = ()
    internal_networks: tuple[str, ...] = ()  # internal addresses policy hosts may have
    timeout: float = 10.0  # per lookup or connection
    starttls: bool = True
    bogus_probe: str | None = "dnssec-failed.org."
    validation_probe: str = "."
    extra: dict[str, str] = field(default_factory=dict)


async def _bounded(aw: Awaitable[Found], name: str, rdtype: str, timeout: float) -> Found:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        return Found(name, rdtype, error=f"no answer within {timeout:g} s")


async def lookup(resolver: Resolver, name: str, rdtype: str, timeout: float) -> Found:
    """One lookup as Found; never raises for DNS problems."""
    name = name.rstrip(".").lower()

    async def run() -> Found:
        try:
            answer = await resolver.lookup(name, rdtype)
        except NotFound:
            return Found(name, rdtype, missing=True)
        except DNSError as exc:
            return Found(name, rdtype, error=str(exc))
        if rdtype == "TXT":
            values = tuple(answer.texts())
        else:
            values = tuple(answer.to_texts())
        return Found(name, rdtype, values, authentic=answer.authentic)

    return await _bounded(run(), name, rdtype, timeout)


def listener_ips(cfg: Config) -> list[str]:
    """Specific addresses of the non-internal SMTP listeners (wildcards left out)."""
    out: list[str] = []
    for lst in cfg.static.listeners.values():
        if lst.internal or not lst.smtp.enabled:
            continue
        for ip in lst.ips:
            if not ipaddress.ip_address(ip).is_unspecified and ip not in out:
                out.append(ip)
    return out


async def _spf(
    resolver: Resolver, ips: list[str], domain: str, helo: str, identity: str, timeout: float
) -> dict[str, tuple[str, str]]:
    from postel.auth.spf.evaluate import check_host

    async def one(ip: str) -> tuple[str, tuple[str, str]]:
        res = await check_host(
            resolver,
            ip=ip,
            domain=domain,
            sender=f"postmaster@{domain}",
            helo=helo,
            identity="helo" if identity == "helo" else "mailfrom",
            timeout=timeout,
        )
        return ip, (str(res.result), res.reason)

    return dict(await asyncio.gather(*(one(ip) for ip in ips)))


async def _probes(
    resolver: Resolver, mx: Found, hostname: str, opts: CheckOptions, ctx: ssl.SSLContext
) -> list[Probe]:
    hosts = [h for _, h in mx_hosts(mx) if h][:MAX_MX_PROBED]

    async def for_host(host: str) -> list[Probe]:
        a, aaaa = await asyncio.gather(
            lookup(resolver, host, "A", opts.timeout), lookup(resolver, host, "AAAA", opts.timeout)
        )
        ips = list(aaaa.values if aaaa.ok else ()) + list(a.values if a.ok else ())
        if not ips:
            return [Probe(host, error=f"no address: {a.problem()}")]
        return list(
            await asyncio.gather(
                *(
                    probe(
                        host,
                        ip,
                        opts.smtp_port,
                        verify_context=ctx,
                        helo=hostname,
                        timeout=opts.timeout,
                    )
                    for ip in ips[:ADDRESSES_PER_MX]
                )
            )
        )

    results = await asyncio.gather(*(for_host(h) for h in hosts))
    return [p for ps in results for p in ps]


async def _policy(resolver: Resolver, domain: str, opts: CheckOptions) -> PolicyFetch:
    from postel.mtasts.errors import MTASTSError
    from postel.mtasts.fetch import fetch_policy, make_ssl_context
    from postel.netpolicy import AddressPolicy

    try:
        fetched = await fetch_policy(
            resolver,
            domain,
            ssl_context=make_ssl_context(list(opts.ca_files)),
            port=opts.https_port,
            timeout=opts.timeout,
            addresses=AddressPolicy.from_networks(opts.internal_networks),
        )
    except MTASTSError as exc:
        return PolicyFetch(error=str(exc))
    return PolicyFetch(text=fetched.text)


def verify_context(opts: CheckOptions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in opts.ca_files:
        ctx.load_verify_locations(cafile=path)
    return ctx


async def gather_facts(
    cfg: Config, domain: str, resolver: Resolver, exp: Expected, opts: CheckOptions
) -> Facts:
    host = cfg.static.hostname.lower().rstrip(".")
    t = opts.timeout
    facts = Facts(domain=domain, hostname=host)

    async def validating() -> None:
        try:
            ok, detail = await asyncio.wait_for(
                check_validating(
                    resolver, probe=opts.validation_probe, bogus_probe=opts.bogus_probe
                ),
                2 * t,
            )
        except TimeoutError:
            ok, detail = False, "the check timed out"
        facts.validating, facts.validating_detail = ok, detail

    client_names = [
        (r.name.rstrip(".").lower(), r.rtype)
        for r in domain_records(cfg, domain)
        if _topic(r, domain, host) == "client"
    ]
    (
        facts.host_a,
        facts.host_aaaa,
        facts.mx,
        facts.tlsa,
        facts.spf,
        facts.host_spf,
        facts.dmarc,
        facts.mtasts_record,
    ) = await asyncio.gather(
        lookup(resolver, host, "A", t),
        lookup(resolver, host, "AAAA", t),
        lookup(resolver, domain, "MX", t),
        lookup(resolver, f"_25._tcp.{host}", "TLSA", t),
        lookup(resolver, domain, "TXT", t),
        lookup(resolver, host, "TXT", t),
        lookup(resolver, f"_dmarc.{domain}", "TXT", t),
        lookup(resolver, f"_mta-sts.{domain}", "TXT", t),
    )
    facts.our_ips = listener_ips(cfg)
    if not facts.our_ips:
        facts.our_ips = [
            v for f in (facts.host_a, facts.host_aaaa) if f is not None and f.ok for v in f.values
        ]
    dkim_sels = sorted(exp.dkim)
    await validating()
    found: list[Found] = await asyncio.gather(
        *(lookup(resolver, f"{s}._domainkey.{domain}", "TXT", t) for s in dkim_sels),
        *(
            lookup(resolver, dns.reversename.from_address(ip).to_text(), "PTR", t)
            for ip in facts.our_ips
        ),
        *(lookup(resolver, n, rt, t) for n, rt in client_names),
    )
    for s in dkim_sels:
        facts.dkim[s] = found.pop(0)
    for ip in facts.our_ips:
        facts.ptr[ip] = found.pop(0)
    for (n, _), f in zip(client_names, found, strict=True):
        facts.client[n] = f
    if exp.tlsrpt_rua:
        facts.tlsrpt = await lookup(resolver, f"_smtp._tls.{domain}", "TXT", t)
    if exp.host_tlsrpt_rua:
        facts.host_tlsrpt = await lookup(resolver, f"_smtp._tls.{host}", "TXT", t)
    jobs: list[Awaitable[object]] = [
        _spf(resolver, facts.our_ips, domain, host, "mailfrom", t),
        _spf(resolver, facts.our_ips, host, host, "helo", t),
    ]
    if opts.starttls and facts.mx is not None and facts.mx.ok:
        jobs.append(_probes(resolver, facts.mx, host, opts, verify_context(opts)))
    if exp.mtasts_id:
        jobs.append(_policy(resolver, domain, opts))
    results = await asyncio.gather(*jobs)
    facts.spf_results = results[0]  # type: ignore[assignment]
    facts.host_spf_results = results[1]  # type: ignore[assignment]
    rest = list(results[2:])
    if opts.starttls and facts.mx is not None and facts.mx.ok:
        facts.probes = rest.pop(0)  # type: ignore[assignment]
    if exp.mtasts_id:
        facts.mtasts_policy = rest.pop(0)  # type: ignore[assignment]
    return facts
