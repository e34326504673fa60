"""Deliver one message to the recipients of one domain over SMTP (RFC 5321 §5.1).

MTA-STS (RFC 8461) from the cache, next hops with DNSSEC status (RFC 7672
§2.2), the decision table per host (decide.py), one SMTP session per host IP
(postel.smtpclient), plaintext retry where allowed. The attempt's TLS results
(RFC 8460, results.py) and what it learned of the domain come back in the
DeliveryOutcome: the deliverer writes nothing itself (postel.queue.recorder).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from postel.config import Config
from postel.delivery.decide import HostDecision, decide
from postel.delivery.errors import DeliveryError, InternalAddress, NextHopLookupError
from postel.delivery.gather import (
    HostTLSA,
    NextHops,
    gather_ips,
    gather_next_hops,
    gather_tlsa,
)
from postel.delivery.localonly import deliver_local
from postel.delivery.request import (
    DeliveryOutcome,
    DeliveryRequest,
    DomainSecurity,
    RecipientOutcome,
    TLSAttempt,
)
from postel.delivery.results import AttemptReport, is_ip_literal, tls_attempt
from postel.dns import DNSError, Resolver
from postel.log import cid_context
from postel.metrics import record as metrics
from postel.mtastsdb import MTASTSCache, PolicyLookup
from postel.mtastsdb.model import no_policy_result
from postel.netpolicy import AddressPolicy
from postel.smtpclient import SessionResult, TLSMode, TLSPolicy, deliver_session
from postel.smtpclient.scache import SessionCache
from postel.store.api import Accounts

_log = logging.getLogger("postel.delivery")

COMMAND_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2 suggests 5 minutes and more
# Local decisions of the SMTP client that another host may not share.
_HOST_SPECIFIC = frozenset({"5.7.30", "5.6.7", "5.6.3", "5.3.4"})

SessionFn = Callable[..., Awaitable[SessionResult]]


class _Outcomes:
    """Per-recipient bookkeeping across hosts and addresses."""

    def __init__(self, rcpts: list[str]) -> None:
        self.pending = list(dict.fromkeys(rcpts))
        self.learned: list[DomainSecurity] = []
        self.final: dict[str, RecipientOutcome] = {}
        self.tried: dict[str, list[RecipientOutcome]] = {r: [] for r in self.pending}

    def settle(self, o: RecipientOutcome) -> None:
        self.final[o.rcpt] = o
        if o.rcpt in self.pending:
            self.pending.remove(o.rcpt)

    def note(self, o: RecipientOutcome) -> None:
        self.tried.setdefault(o.rcpt, []).append(o)

    def note_all(self, err: DeliveryError, remote: str) -> None:
        for r in self.pending:
            self.note(
                RecipientOutcome(
                    r,
                    "permanent" if err.permanent else "temporary",
                    err.code,
                    err.enhanced or "",
                    err.text,
                    remote,
                )
            )

    def result(self, rcpts: list[str]) -> list[RecipientOutcome]:
        out: list[RecipientOutcome] = []
        for r in rcpts:
            if r in self.final:
                out.append(self.final[r])
                continue
            tried = self.tried.get(r, [])
            # Temporary wins: another attempt may succeed (RFC 5321 §4.5.4.1).
            temp = [o for o in tried if o.status == "temporary"]
            if temp:
                out.append(temp[-1])
            elif tried:
                out.append(tried[-1])
            else:
                out.append(RecipientOutcome(r, "temporary", 451, "4.4.0", "no host was tried"))
        return out


class Deliverer:
    """Delivers messages for the queue. One instance serves all deliveries."""

    def __init__(
        self,
        cfg: Config,
        resolver: Resolver,
        mtastsdb: MTASTSCache | None,
        store: Accounts,
        *,
        smtp_port: int | None = None,
        logger: logging.Logger | None = None,
        session: SessionFn | None = None,
        command_timeout: float = COMMAND_TIMEOUT,
        rng: random.Random | None = None,
        session_cache: SessionCache | None = None,
    ) -> None:
        self.cfg = cfg
        self.resolver = resolver
        self.mtastsdb = mtastsdb
        self.store = store
        self.smtp_port = smtp_port if smtp_port is not None else cfg.static.delivery.smtp_port
        self.log = logger or _log
        self.session: SessionFn = session or deliver_session
        dcfg = cfg.static.delivery
        # Idle connections for the next message to the same host and TLS policy
        # (docs/delivery-policy.md, Connection reuse); scripted sessions get none.
        if session_cache is None and session is None and dcfg.connection_cache_time > 0:
            session_cache = SessionCache(
                idle_time=dcfg.connection_cache_time,
                max_messages=dcfg.connection_reuse_limit,
                logger=self.log,
            )
        self.session_cache = session_cache
        self.command_timeout = command_timeout
        self.rng = rng or random.Random()
        self.extra_ca_files = [cfg.path(p) for p in cfg.static.tls.extra_ca_files]
        self.addresses = AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks)

    async def aclose(self) -> None:
        """End the cached idle connections (at shutdown, after the queue stopped)."""
        if self.session_cache is not None:
            await self.session_cache.aclose()

    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        """Try each MX host in order until one accepts; an outcome per recipient,
        the TLS results to record and what was learned of the domain."""
        with cid_context():
            if self.cfg.static.delivery.local_only:
                local = await asyncio.to_thread(deliver_local, self.cfg, self.store, req, self.log)
                return DeliveryOutcome(tuple(local))
            self.log.info(
                "delivering",
                extra={"domain": req.domain, "rcpts": len(req.rcpts), "attempt": req.attempt},
            )
            if is_ip_literal(req.domain):
                return await self._deliver_ip_literal(req)
            return await self._deliver(req)

    # -- direct delivery -------------------------------------------------------

    async def _mtasts(self, req: DeliveryRequest) -> PolicyLookup:
        if self.mtastsdb is None:  # no cache (tools, tests): MTA-STS not applied
            return PolicyLookup(req.domain, None, None, no_policy_result(req.domain))
        try:
            found = await self.mtastsdb.get(self.resolver, req.domain)
        except Exception as e:
            # The cache must not stop delivery; proceed as without MTA-STS.
            self.log.exception("mta-sts lookup failed", extra={"domain": req.domain})
            found = PolicyLookup(
                req.domain, None, None, no_policy_result(req.domain), temporary=True, error=str(e)
            )
        metrics.mtasts_lookup(found)
        return found

    async def _deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        domain = req.domain.rstrip(".").lower()
        # The MTA-STS policy and the next hops are independent: asked at once.
        sts, hops = await asyncio.gather(self._mtasts(req), self._next_hops(domain))
        report = AttemptReport(domain, sts.tlsrpt_result)
        outcomes = _Outcomes(req.rcpts)
        if isinstance(hops, DeliveryError):
            e = hops
            if isinstance(e, NextHopLookupError) and isinstance(e.cause, DNSError):
                report.domain_dns_failure(e.cause)
            self.log.info("no next hop", extra={"domain": domain, "err": e.text})
            outcomes.note_all(e, "")
            return self._outcome(req, outcomes, report)
        for host in hops.hosts:
            if not outcomes.pending:
                break
            stop = await self._try_host(req, hops, host, sts, report, outcomes)
            if stop:
                break
        return self._outcome(req, outcomes, report)

    async def _next_hops(self, domain: str) -> NextHops | DeliveryError:
        try:
            return await gather_next_hops(self.resolver, domain, rng=self.rng)
        except DeliveryError as e:
            return e

    async def _try_host(
        self,
        req: DeliveryRequest,
        hops: NextHops,
        host: str,
        sts: PolicyLookup,
        report: AttemptReport,
        outcomes: _Outcomes,
    ) -> bool:
        """Deliver via one MX host; True when no further host should be tried."""
        addrs = await gather_ips(self.resolver, host)
        if not addrs.ips:
            report.host_addresses(addrs)
            err = DeliveryError(451, "4.4.4", f"no addresses for {host}: {addrs.error}")
            outcomes.note_all(err, host)
            return False
        ips = self._permitted(host, addrs.ips)
        if isinstance(ips, InternalAddress):
            outcomes.note_all(ips, host)
            return False
        # Also with TLS-Required: No: RFC 8689 §5 says to ignore failures, not to
        # skip the evaluation, and the TLS report still states the host's policy.
        tlsa: HostTLSA | None = await gather_tlsa(self.resolver, hops, addrs)
        if tlsa is not None:
            report.host_tlsa(host, tlsa)
        else:
            report.host_addresses(addrs)
        decision = decide(
            host,
            policy=sts.policy,
            tlsa=tlsa,
            requiretls=req.requiretls,
            tls_required_no=req.tls_required_no,
            extra_ca_files=self.extra_ca_files,
        )
        if decision.mx_mismatch:
            report.mx_mismatch(host, enforced=decision.mismatch_enforced)
        if decision.skip:
            assert decision.failure is not None
            self.log.info("skipping host", extra={"host": host, "err": decision.failure.text})
            outcomes.note_all(decision.failure, host)
            return False
        assert decision.tls is not None
        for ip in ips:
            res = await self._session(req, host, ip, decision.tls, outcomes.pending)
            report.session(res)
            if self._tls_broken(res) and decision.plaintext_fallback:
                self.log.info("tls failed, retrying without tls", extra={"host": host, "ip": ip})
                metrics.plaintext_fallback()
                plain = TLSPolicy(mode=TLSMode.SKIP, pkix_name=host)
                res = await self._session(req, host, ip, plain, outcomes.pending)
            stop = self._take(req, res, decision, outcomes)
            if stop or not outcomes.pending:
                return True
            if res.connected and res.banner:
                return False  # the host answered; try the next host, not its other addresses
        return False

    def _permitted(self, host: str, ips: list[str]) -> list[str] | InternalAddress:
        """The addresses of *host* that may be connected to (postel.netpolicy);
        the error for the host when there is none."""
        permitted, refused = self.addresses.split(ips)
        for ip, why in refused:
            self.log.info(
                "internal address not used", extra={"host": host, "ip": ip, "reason": why}
            )
        if permitted:
            return permitted
        ip, why = refused[0]
        return InternalAddress(host, ip, why)

    @staticmethod
    def _tls_broken(res: SessionResult) -> bool:
        """The session failed because of TLS, before the transaction started."""
        return (
            res.error is not None
            and (res.tls_failure is not None or res.verification_failed)
            and not res.rcpts
        )

    async def _session(
        self, req: DeliveryRequest, host: str, ip: str, tls: TLSPolicy, rcpts: list[str]
    ) -> SessionResult:
        kwargs: dict[str, Any] = dict(
            host=host,
            ip=ip,
            port=self.smtp_port,
            tls=tls,
            ehlo_name=self.cfg.static.hostname,
            mail_from=req.mail_from,
            rcpts=list(rcpts),
            message=Path(req.message),
            requiretls=req.requiretls,
            smtputf8=req.smtputf8,
            eightbit=req.eightbit,
            connect_timeout=self.cfg.static.delivery.connect_timeout,
            command_timeout=self.command_timeout,
            logger=self.log,
        )
        if self.session_cache is not None:
            kwargs["cache"] = self.session_cache
        started = time.monotonic()
        res = await self.session(**kwargs)
        metrics.delivery_session(
            tls.mode.value, res, time.monotonic() - started, requiretls=req.requiretls
        )
        return res

    def _take(
        self, req: DeliveryRequest, res: SessionResult, decision: HostDecision, out: _Outcomes
    ) -> bool:
        """Sort the session's per-recipient results; True when delivery is settled."""
        remote = res.host
        err = res.error
        host_specific = err is not None and err.enhanced in _HOST_SPECIFIC
        for rcpt in list(out.pending):
            status, code, enhanced, message = res.outcome(rcpt)
            o = RecipientOutcome(rcpt, status, code, enhanced, message, remote)
            rr = next((r for r in res.rcpts if r.rcpt == rcpt), None)
            if status == "delivered":
                out.settle(o)
            elif status == "permanent" and not host_specific and (rr is not None or err):
                # A remote 5xx (RCPT, MAIL, DATA): final for this message (RFC 5321 §4.2.1).
                out.settle(o)
            else:
                out.note(o)
        if res.delivered and req.sender_account:
            out.learned.append(
                DomainSecurity(
                    req.sender_account,
                    req.domain.lower(),
                    res.tls or res.starttls_offered,
                    res.requiretls_offered,
                )
            )
        return err is not None and err.permanent and not host_specific and not res.delivered

    def _outcome(
        self, req: DeliveryRequest, outcomes: _Outcomes, report: AttemptReport | None
    ) -> DeliveryOutcome:
        tls: TLSAttempt | None = None
        if report is not None:
            tls = tls_attempt(
                report,
                disabled=self.cfg.static.reports.no_outgoing_tls_reports,
                is_tlsrpt=req.is_tlsrpt,
                is_dmarc_report=req.is_dmarc_report,
            )
        return DeliveryOutcome(
            tuple(outcomes.result(req.rcpts)),
            tls_reports=() if tls is None else (tls,),
            learned=tuple(outcomes.learned),
        )

    # -- address literals --------------------------------------------------------

    async def _deliver_ip_literal(self, req: DeliveryRequest) -> DeliveryOutcome:
        """RFC 5321 §4.1.3: no MX, no MTA-STS, no DANE, no TLS reporting."""
        inner = req.domain[1:-1]
        ip = inner[5:] if inner.lower().startswith("ipv6:") else inner
        outcomes = _Outcomes(req.rcpts)
        refused = self._permitted(ip, [ip])
        if isinstance(refused, InternalAddress):
            outcomes.note_all(refused, ip)
            return self._outcome(req, outcomes, None)
        decision = decide(
            ip,
            policy=None,
            tlsa=None,
            requiretls=req.requiretls,
            tls_required_no=req.tls_required_no,
        )
        if decision.skip:
            assert decision.failure is not None
            outcomes.note_all(decision.failure, ip)
            return self._outcome(req, outcomes, None)
        assert decision.tls is not None
        res = await self._session(req, ip, ip, decision.tls, outcomes.pending)
        if self._tls_broken(res) and decision.plaintext_fallback:
            metrics.plaintext_fallback()
            res = await self._session(
                req, ip, ip, TLSPolicy(mode=TLSMode.SKIP, pkix_name=ip), outcomes.pending
            )
        self._take(req, res, decision, outcomes)
        return self._outcome(req, outcomes, None)
