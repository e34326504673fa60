"""MTA-STS discovery for a domain: TXT record, then policy (RFC 8461 §3)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name

from postel.dns import DNSError, NotFound, Resolver
from postel.mtasts.errors import MTASTSError, NoRecord, TemporaryLookupError
from postel.mtasts.fetch import DEFAULT_TIMEOUT, fetch_policy
from postel.mtasts.policy import Policy
from postel.mtasts.record import Record, select_record
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy

_log = logging.getLogger("postel.mtasts")


@dataclass(frozen=True)
class LookupResult:
    """Outcome of a lookup.

    On success ``record`` and ``policy`` are set and ``error`` is None.
    Otherwise ``error`` says why: NoRecord (no MTA-STS; ``result_type`` None),
    TemporaryLookupError, RecordSyntaxError/MultipleRecords, NoPolicy,
    PolicyFetchError or PolicySyntaxError; ``record`` is kept when it was found.
    """

    domain: str
    record: Record | None = None
    policy: Policy | None = None
    policy_text: str | None = None
    url: str | None = None
    error: MTASTSError | None = None
    warnings: tuple[str, ...] = ()

    @property
    def result_type(self) -> str | None:
        """The RFC 8460 result type of the failure, None on success or without MTA-STS."""
        return self.error.result_type if self.error is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "record": self.record.to_json() if self.record else None,
            "policy": self.policy.to_json() if self.policy else None,
            "policy_text": self.policy_text,
            "url": self.url,
            "error": None
            if self.error is None
            else {
                "kind": type(self.error).__name__,
                "message": str(self.error),
                "result_type": self.error.result_type,
            },
            "warnings": list(self.warnings),
        }


def normalise_domain(domain: str) -> str:
    """Lower-case A-labels without trailing dot; ValueError for an invalid name."""
    try:
        name = dns.name.from_unicode(domain.strip(), idna_codec=dns.name.IDNA_2008_Practical)
    except (dns.exception.DNSException, UnicodeError) as e:
        raise ValueError(f"invalid domain name {domain!r}: {e}") from e
    text: str = name.to_text(omit_final_dot=True).lower()
    if text in ("", "@", "."):
        raise ValueError(f"invalid domain name {domain!r}")
    return text


async def lookup_record(resolver: Resolver, domain: str) -> Record:
    """The `_mta-sts.<domain>` record (RFC 8461 §3.1); the resolver follows CNAMEs.

    Raises NoRecord (none, NXDOMAIN/NODATA), TemporaryLookupError (any other DNS
    failure), MultipleRecords or RecordSyntaxError.
    """
    qname = f"_mta-sts.{domain}"
    try:
        answer = await resolver.txt(qname)
    except NotFound as e:
        raise NoRecord(f"no TXT record at {qname}: {e}") from None
    except DNSError as e:
        raise TemporaryLookupError(f"looking up TXT {qname}: {e}") from None
    return select_record(answer.texts())


async def lookup(
    resolver: Resolver,
    domain: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    port: int = 443,
    timeout: float = DEFAULT_TIMEOUT,
    logger: logging.Logger | None = None,
    addresses: AddressPolicy = PUBLIC_ONLY,
) -> LookupResult:
    """Look up the record and, if there is one, fetch and parse the policy.

    Never raises the package's errors: they end up in ``LookupResult.error``.
    ``domain`` may be given in U-labels; ValueError if it is not a domain name.
    ``addresses`` says which policy host addresses may be connected to.
    """
    log = logger or _log
    domain = normalise_domain(domain)
    try:
        record = await lookup_record(resolver, domain)
    except MTASTSError as e:
        log.debug("mta-sts record lookup: %s", e, extra={"domain": domain})
        return LookupResult(domain=domain, error=e)
    try:
        fetched = await fetch_policy(
            resolver,
            domain,
            ssl_context=ssl_context,
            port=port,
            timeout=timeout,
            logger=log,
            addresses=addresses,
        )
    except MTASTSError as e:
        log.info("mta-sts policy fetch failed: %s", e, extra={"domain": domain})
        return LookupResult(domain=domain, record=record, error=e)
    return LookupResult(
        domain=domain,
        record=record,
        policy=fetched.policy,
        policy_text=fetched.text,
        url=fetched.url,
        warnings=fetched.warnings,
    )
