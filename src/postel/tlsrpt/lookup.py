"""Looking up a domain's TLSRPT record through a passed-in resolver (RFC 8460 §3)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from postel.dns import NotFound, Resolver
from postel.tlsrpt.record import Record, is_tlsrpt_text, record_name, select_record

log = logging.getLogger("postel.tlsrpt")


@dataclass
class LookupResult:
    """The outcome of a TLSRPT lookup; record is None when the domain has none."""

    name: str
    record: Record | None
    text: str
    authentic: bool


async def lookup_record(resolver: Resolver, domain: str) -> LookupResult:
    """Look up `_smtp._tls.<domain>` TXT and select the TLSRPT record.

    NXDOMAIN/NODATA or no v=TLSRPTv1 string -> record None. Raises RecordError for
    a malformed record or more than one; other DNS errors propagate (DNSError).
    """
    name = record_name(domain)
    try:
        answer = await resolver.txt(name)
    except NotFound:
        log.debug("no tlsrpt record", extra={"qname": name})
        return LookupResult(name=name, record=None, text="", authentic=False)
    texts = answer.texts()
    record = select_record(texts)
    text = next((t for t in texts if is_tlsrpt_text(t)), "")
    return LookupResult(name=name, record=record, text=text, authentic=answer.authentic)
