"""The result of a successful lookup."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.rdata
import dns.rdtypes.ANY.TXT


@dataclass(frozen=True)
class Answer:
    """Records of ``rdtype`` at ``name``, reached from ``qname``.

    ``cname_chain`` lists the CNAME targets followed, in order (empty without
    CNAMEs; otherwise its last element equals ``name``). ``authentic`` is the AD
    bit of the validating resolver, true only if every step was authentic.
    ``ttl`` is the smallest TTL of the records used (CNAMEs included): how
    long the answer may be cached; None when not known.
    """

    qname: str
    name: str
    rdtype: str
    records: list[dns.rdata.Rdata]
    authentic: bool
    cname_chain: list[str] = field(default_factory=list)
    ttl: int | None = None

    def texts(self) -> list[str]:
        """TXT records: each record's strings joined (RFC 7208 §3.3), decoded utf-8."""
        out: list[str] = []
        for rd in self.records:
            if isinstance(rd, dns.rdtypes.ANY.TXT.TXT):
                out.append(b"".join(rd.strings).decode("utf-8", errors="replace"))
        return out

    def to_texts(self) -> list[str]:
        """Each record in zone-file presentation form."""
        return [rd.to_text() for rd in self.records]
