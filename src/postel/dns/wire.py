"""A DNS response read straight from its wire form (RFC 1035 §4.1), pure.

dnspython's ``dns.message.from_wire`` builds an object for every name,
record and record set of a response (and hashes each record into its set),
which was most of a lookup's CPU. A lookup needs far less: the header's AD
bit and RCODE, the answer records of one name and type, whether the
authority section has an SOA (with its TTL and MINIMUM, RFC 2308 §5) and the
EDNS options (RFC 6891 §6.1.2, for RFC 8914's extended errors). Here the
sections are walked once, owner names kept as lower-case wire bytes, and
dnspython builds only the records that are asked for (``records``).

The same checks as dnspython's where they matter: names within 255 octets
with only backward compression pointers (RFC 1035 §4.1.4), every record
inside the message, at most one OPT record, no bytes after the last record.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from postel.errors import PostelError

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH (RFC 1035 §4.1.3)
_OPT = 41  # RFC 6891 §6.1.1
_SOA = 6
_IN = 1
_AD = 0x0020  # RFC 4035 §3.2.3, in the header's flags
MAX_NAME = 255  # octets of a name in wire form (RFC 1035 §2.3.4)


class DNSWireFormatError(PostelError):
    """A response that is not a well-formed DNS message; says where."""


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One resource record: its owner as lower-case uncompressed wire bytes,
    and where its RDATA lies in the message."""

    owner: bytes
    rdtype: int
    rdclass: int
    ttl: int
    start: int
    length: int


@dataclass(frozen=True)
class WireResponse:
    """The parts of a response that a lookup reads (see the module's text)."""

    wire: bytes
    flags: int
    rcode: int  # with the extended bits of the OPT record (RFC 6891 §6.1.3)
    answer: list[WireRecord]
    authority: list[WireRecord]
    options: list[tuple[int, bytes]]  # EDNS options: (code, data)

    @property
    def authentic(self) -> bool:
        return bool(self.flags & _AD)

    def records(self, owner: bytes, rdtype: int) -> list[dns.rdata.Rdata] | None:
        """The answer section's records of *owner* (lower-case wire form) and
        *rdtype* in class IN, duplicates once (an RRset is a set, RFC 2181
        §5); None when there are none."""
        found: list[dns.rdata.Rdata] | None = None
        for rr in self.answer:
            if rr.owner == owner and rr.rdtype == rdtype and rr.rdclass == _IN:
                rd = self.rdata(rr)
                if found is None:
                    found = [rd]
                elif rd not in found:
                    found.append(rd)
        return found

    def rdata(self, rr: WireRecord) -> dns.rdata.Rdata:
        """One record's data, built by dnspython (it follows compressed names)."""
        try:
            return dns.rdata.from_wire(
                dns.rdataclass.RdataClass.make(rr.rdclass),
                dns.rdatatype.RdataType.make(rr.rdtype),
                self.wire,
                rr.start,
                rr.length,
            )
        except Exception as e:
            rdtype = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rr.rdtype))
            raise DNSWireFormatError(
                f"DNS response: bad {rdtype} record at octet {rr.start}: {e}"
            ) from e

    def answer_ttl(self) -> int | None:
        """The smallest TTL of the answer section."""
        return min((rr.ttl for rr in self.answer), default=None)

    def soa(self) -> tuple[int, int] | None:
        """(TTL, MINIMUM) of the authority section's first SOA record."""
        for rr in self.authority:
            if rr.rdtype == _SOA:
                if rr.length < 22:  # two names of at least one octet, five 32-bit fields
                    raise DNSWireFormatError(f"DNS response: short SOA record at octet {rr.start}")
                end = rr.start + rr.length
                # MINIMUM is the last field, after the names (RFC 1035 §3.3.13).
                return rr.ttl, int.from_bytes(self.wire[end - 4 : end], "big")
        return None


def name_key(name: dns.name.Name) -> bytes:
    """*name* as the owners of a WireResponse are kept: lower-case wire form."""
    return b"".join(len(label).to_bytes(1, "big") + label.lower() for label in name.labels)


def _name(wire: bytes, off: int) -> tuple[bytes, int]:
    """The name at *off* (lower-case, uncompressed) and the offset after it."""
    out = bytearray()
    end = -1
    pos = off
    while True:
        if pos >= len(wire):
            raise DNSWireFormatError(f"DNS response: name at octet {off} runs past the end")
        n = wire[pos]
        if n == 0:
            out.append(0)
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(wire):
                raise DNSWireFormatError(f"DNS response: name at octet {off} runs past the end")
            target = ((n & 0x3F) << 8) | wire[pos + 1]
            if end < 0:
                end = pos + 2
            if target >= pos:  # only backwards: no loops
                raise DNSWireFormatError(f"DNS response: bad compression pointer at octet {pos}")
            pos = target
            continue
        if n & 0xC0:
            raise DNSWireFormatError(f"DNS response: bad label type at octet {pos}")
        if pos + 1 + n > len(wire):
            raise DNSWireFormatError(f"DNS response: name at octet {off} runs past the end")
        out += wire[pos : pos + 1 + n]
        pos += 1 + n
        if len(out) >= MAX_NAME:
            raise DNSWireFormatError(f"DNS response: name at octet {off} longer than 255 octets")
    return bytes(out).lower(), (pos if end < 0 else end)


def _records(wire: bytes, off: int, count: int) -> tuple[list[WireRecord], int]:
    out: list[WireRecord] = []
    for _ in range(count):
        owner, off = _name(wire, off)
        if off + _RR.size > len(wire):
            raise DNSWireFormatError(f"DNS response: record at octet {off} runs past the end")
        rdtype, rdclass, ttl, length = _RR.unpack_from(wire, off)
        off += _RR.size
        if off + length > len(wire):
            raise DNSWireFormatError(f"DNS response: record data at octet {off} past the end")
        out.append(WireRecord(owner, rdtype, rdclass, ttl, off, length))
        off += length
    return out, off


def _options(wire: bytes, rr: WireRecord) -> list[tuple[int, bytes]]:
    """The OPT record's options (RFC 6891 §6.1.2: code, length, data)."""
    out: list[tuple[int, bytes]] = []
    pos, end = rr.start, rr.start + rr.length
    while pos < end:
        if pos + 4 > end:
            raise DNSWireFormatError(f"DNS response: EDNS option at octet {pos} cut short")
        code, length = struct.unpack_from("!HH", wire, pos)
        pos += 4
        if pos + length > end:
            raise DNSWireFormatError(f"DNS response: EDNS option at octet {pos} cut short")
        out.append((code, wire[pos : pos + length]))
        pos += length
    return out


def parse(wire: bytes) -> WireResponse:
    """Read a response; raises DNSWireFormatError for a malformed one."""
    if len(wire) < _HEADER.size:
        raise DNSWireFormatError("DNS response: shorter than its 12-octet header")
    _id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    off = _HEADER.size
    for _ in range(qdcount):
        _, off = _name(wire, off)
        off += 4
        if off > len(wire):
            raise DNSWireFormatError("DNS response: question runs past the end")
    answer, off = _records(wire, off, ancount)
    authority, off = _records(wire, off, nscount)
    additional, off = _records(wire, off, arcount)
    if off != len(wire):
        raise DNSWireFormatError(f"DNS response: {len(wire) - off} octets after the last record")
    rcode = flags & 0x000F
    options: list[tuple[int, bytes]] = []
    opts = [rr for rr in additional if rr.rdtype == _OPT]
    if len(opts) > 1:
        raise DNSWireFormatError("DNS response: more than one OPT record (RFC 6891 §6.1.1)")
    if opts:
        # The TTL field's first octet holds the upper 8 bits of the RCODE.
        rcode |= (opts[0].ttl >> 24) << 4
        options = _options(wire, opts[0])
    return WireResponse(wire, flags, rcode, answer, authority, options)
