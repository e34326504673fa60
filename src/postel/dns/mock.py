"""MockResolver: a Resolver answering from a dict, for unit tests of other packages.

    MockResolver({
        ("example.com", "MX"): ["10 mx.example.com."],
        ("_mta-sts.example.com", "TXT"): ['"v=STSv1; id=1"'],
        ("www.example.com", "CNAME"): ["example.com."],
        ("broken.example", "TLSA"): TemporaryError("SERVFAIL"),
        ("bogus.example", "*"): BogusError("bogus.example.", "A", ede_code=6),
    }, authentic={"example.com"})

Names are normalised (case, trailing dot). An empty list is NODATA; a missing
name is NXDOMAIN (NODATA if the name has other records or names below it).
``authentic`` is True/False for all, or the set of authentic names.
"""

from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME

from postel.dns.answer import Answer
from postel.dns.base import Resolver
from postel.dns.errors import CnameChainError, DNSError, NotFound
from postel.dns.names import MAX_CNAMES, name_text, rdtype_text

Entry = list[dns.rdata.Rdata] | DNSError


class MockResolver(Resolver):
    def __init__(
        self,
        records: dict[tuple[str, str], list[str] | DNSError] | None = None,
        authentic: bool | set[str] = True,
    ) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        # Per-name authenticity; names not listed get the default.
        self._authentic_default = authentic if isinstance(authentic, bool) else False
        self._authentic: dict[str, bool] = (
            {} if isinstance(authentic, bool) else {name_text(n): True for n in authentic}
        )
        self.queries: list[tuple[str, str]] = []
        for (name, rdtype), value in (records or {}).items():
            self.set(name, rdtype, value)

    def set(self, name: str, rdtype: str, value: list[str] | DNSError) -> None:
        """Add or replace the records (or the error) for ``name``/``rdtype``."""
        key = (name_text(name), "*" if rdtype == "*" else rdtype_text(rdtype))
        if isinstance(value, DNSError):
            self._entries[key] = value
            return
        if key[1] == "*":
            raise ValueError(f"{name} *: only an error can be given for all types")
        qtype = dns.rdatatype.from_text(key[1])
        parsed: list[dns.rdata.Rdata] = []
        for i, text in enumerate(value):
            try:
                parsed.append(
                    dns.rdata.from_text(
                        dns.rdataclass.IN, qtype, text, origin=dns.name.root, relativize=False
                    )
                )
            except Exception as e:
                raise ValueError(f"{key[0]} {key[1]} record {i} {text!r}: {e}") from e
        self._entries[key] = parsed

    def remove(self, name: str, rdtype: str) -> None:
        self._entries.pop((name_text(name), rdtype if rdtype == "*" else rdtype_text(rdtype)), None)

    def set_authentic(self, name: str, authentic: bool) -> None:
        self._authentic[name_text(name)] = authentic

    def _is_authentic(self, name: str) -> bool:
        return self._authentic.get(name, self._authentic_default)

    def _name_exists(self, name: str) -> bool:
        suffix = "." + name if name != "." else ""
        return any(k[0] == name or k[0].endswith(suffix) for k in self._entries)

    def _get(self, name: str, rdtype: str) -> list[dns.rdata.Rdata] | None:
        wildcard = self._entries.get((name, "*"))
        if isinstance(wildcard, DNSError):
            raise wildcard
        entry = self._entries.get((name, rdtype))
        if isinstance(entry, DNSError):
            raise entry
        return entry

    async def lookup(self, name: str, rdtype: str) -> Answer:
        qname = name_text(name)
        qtype = rdtype_text(rdtype)
        self.queries.append((qname, qtype))
        current = qname
        chain: list[str] = []
        authentic = self._is_authentic(qname)
        while True:
            records = self._get(current, qtype)
            if records is not None and records:
                return Answer(qname, current, qtype, list(records), authentic, chain)
            cname = None if qtype == "CNAME" else self._get(current, "CNAME")
            if records is not None or not cname:
                nxdomain = records is None and not self._name_exists(current)
                raise NotFound(qname, qtype, nxdomain=nxdomain, authentic=authentic, name=current)
            rd = cname[0]
            assert isinstance(rd, dns.rdtypes.ANY.CNAME.CNAME)
            target = name_text(rd.target)
            if target == qname or target in chain:
                raise CnameChainError(
                    f"{qname} {qtype}: CNAME loop at {current} -> {target}",
                    qname=qname,
                    rdtype=qtype,
                )
            if len(chain) >= MAX_CNAMES:
                raise CnameChainError(
                    f"{qname} {qtype}: more than {MAX_CNAMES} CNAMEs (RFC 7672 §2.2)",
                    qname=qname,
                    rdtype=qtype,
                )
            chain.append(target)
            current = target
            authentic = authentic and self._is_authentic(current)
