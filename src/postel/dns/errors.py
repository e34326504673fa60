"""Errors of DNS lookups: one hierarchy, base class DNSError."""

from __future__ import annotations

from postel.dns.ede import describe
from postel.errors import PostelError


class DNSError(PostelError):
    """A DNS lookup did not produce an answer."""

    def __init__(self, message: str, *, qname: str = "", rdtype: str = "") -> None:
        super().__init__(message)
        self.qname = qname
        self.rdtype = rdtype


class NotFound(DNSError):
    """NXDOMAIN (``nxdomain`` True) or NODATA: the name has no such records.

    ``name`` is where the CNAME chain ended (``qname`` when there was none);
    ``authentic`` is the AD bit of the negative answer (RFC 4035 §3.2.3).
    """

    def __init__(
        self,
        qname: str,
        rdtype: str,
        *,
        nxdomain: bool,
        authentic: bool = False,
        name: str | None = None,
        ttl: int | None = None,
    ) -> None:
        name = name or qname
        via = f" (via CNAME to {name})" if name != qname else ""
        what = "no such name (NXDOMAIN)" if nxdomain else f"no {rdtype} records (NODATA)"
        super().__init__(f"{qname} {rdtype}{via}: {what}", qname=qname, rdtype=rdtype)
        self.nxdomain = nxdomain
        self.authentic = authentic
        self.name = name
        self.ttl = ttl  # how long the answer may be cached (RFC 2308 §5), None: unknown


class TemporaryError(DNSError):
    """SERVFAIL without a DNSSEC reason, REFUSED, timeouts, network errors: try later."""

    def __init__(
        self,
        message: str,
        *,
        qname: str = "",
        rdtype: str = "",
        ede_code: int | None = None,
        ede_text: str = "",
    ) -> None:
        super().__init__(message, qname=qname, rdtype=rdtype)
        self.ede_code = ede_code
        self.ede_text = ede_text


class CnameChainError(TemporaryError):
    """A CNAME loop or a chain longer than the limit (RFC 7672 §2.2: at most 16)."""


class BogusError(DNSError):
    """The validating resolver found the answer bogus (RFC 4035 §5.5).

    ``ede_code``/``ede_text`` come from the extended DNS error option (RFC 8914),
    e.g. 6 DNSSEC Bogus, 7 Signature Expired, 9 DNSKEY Missing.
    """

    def __init__(
        self,
        qname: str,
        rdtype: str,
        *,
        ede_code: int | None,
        ede_text: str = "",
        server: str = "",
    ) -> None:
        where = f" from {server}" if server else ""
        detail = describe(ede_code, ede_text)
        super().__init__(
            f"{qname} {rdtype}: DNSSEC validation failed{where}: {detail}",
            qname=qname,
            rdtype=rdtype,
        )
        self.ede_code = ede_code
        self.ede_text = ede_text
        self.server = server
