"""A minimal authoritative DNS stub for the benchmarks (UDP on 127.0.0.1:PORT).

Answers: MX of dN.sink.test -> "10 mxN.sink.test." and A of mxN.sink.test ->
dest_ip(N) (127.0.1.N+1: one receiving address per destination domain, as
bench/outbound.py's receivers listen); MX of any other name under sink.test ->
"10 mx.sink.test."; A of mx.sink.test -> 127.0.0.1; PTR of 127.0.0.1 ->
localhost.; everything else NXDOMAIN. No DNSSEC (so postel does no DANE: answers are not authentic).
Prints "ready" once bound. Usage: dnsstub.py PORT
"""

from __future__ import annotations

import re
import socket
import sys

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

DEST = re.compile(r"^d(\d{1,3})\.sink\.test\.$")
DEST_MX = re.compile(r"^mx(\d{1,3})\.sink\.test\.$")


def dest_ip(n: int) -> str:
    """The loopback address of destination domain dN.sink.test's MX."""
    return f"127.0.1.{n % 250 + 1}"


def answer(query: dns.message.Message) -> dns.message.Message:
    resp = dns.message.make_response(query)
    resp.flags |= dns.flags.AA
    if not query.question:
        resp.set_rcode(dns.rcode.FORMERR)
        return resp
    q = query.question[0]
    name = q.name.to_text().lower()
    rdtype = q.rdtype
    dest, dest_mx = DEST.match(name), DEST_MX.match(name)
    if dest is not None:
        if rdtype == dns.rdatatype.MX:
            mx = f"10 mx{dest.group(1)}.sink.test."
            resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", "MX", mx))
        return resp
    if dest_mx is not None:
        if rdtype == dns.rdatatype.A:
            ip = dest_ip(int(dest_mx.group(1)))
            resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", ip))
        return resp
    if name.endswith(".sink.test.") or name == "sink.test.":
        if rdtype == dns.rdatatype.MX and name != "mx.sink.test.":
            resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", "MX", "10 mx.sink.test."))
        elif rdtype == dns.rdatatype.A and name == "mx.sink.test.":
            resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", "127.0.0.1"))
        return resp  # NODATA otherwise
    if rdtype == dns.rdatatype.PTR and name == "1.0.0.127.in-addr.arpa.":
        resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", "PTR", "localhost."))
        return resp
    resp.set_rcode(dns.rcode.NXDOMAIN)
    return resp


def _labels(name: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in name.rstrip(".").split(".")) + b"\0"


def fast_answer(data: bytes) -> bytes | None:
    """answer() for a plain query (one question, uncompressed), built by hand:
    dnspython's parse and build cost the single-threaded stub most of its CPU,
    and at 1,000 domains the stub, not the MTA, became the limit. None: use
    answer()."""
    if len(data) < 17 or data[4:6] != b"\0\1" or data[2] & 0x80:
        return None
    i, labels = 12, []
    while data[i] != 0:
        n = data[i]
        if n & 0xC0 or i + 1 + n >= len(data):
            return None
        labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    end = i + 5
    if end > len(data):
        return None
    rdtype = int.from_bytes(data[i + 1 : i + 3], "big")
    name = ".".join(labels) + "."
    rcode, records = 0, []  # (rdtype, rdata)
    dest, dest_mx = DEST.match(name), DEST_MX.match(name)
    if dest is not None:
        if rdtype == dns.rdatatype.MX:
            records.append((rdtype, b"\0\x0a" + _labels(f"mx{dest.group(1)}.sink.test")))
    elif dest_mx is not None:
        if rdtype == dns.rdatatype.A:
            ip = dest_ip(int(dest_mx.group(1)))
            records.append((rdtype, socket.inet_aton(ip)))
    elif name.endswith(".sink.test.") or name == "sink.test.":
        if rdtype == dns.rdatatype.MX and name != "mx.sink.test.":
            records.append((rdtype, b"\0\x0a" + _labels("mx.sink.test")))
        elif rdtype == dns.rdatatype.A and name == "mx.sink.test.":
            records.append((rdtype, socket.inet_aton("127.0.0.1")))
    elif rdtype == dns.rdatatype.PTR and name == "1.0.0.127.in-addr.arpa.":
        records.append((rdtype, _labels("localhost")))
    else:
        rcode = dns.rcode.NXDOMAIN
    edns = data[10] or data[11]  # an OPT record in the query: answer with one (RFC 6891)
    flags = 0x8400 | (int.from_bytes(data[2:4], "big") & 0x0100) | rcode  # QR AA, RD copied
    out = bytearray(data[:2] + flags.to_bytes(2, "big") + b"\0\1")
    out += len(records).to_bytes(2, "big") + b"\0\0" + (b"\0\1" if edns else b"\0\0")
    out += data[12:end]
    for rtype, rdata in records:
        out += b"\xc0\x0c" + rtype.to_bytes(2, "big") + b"\0\1" + (60).to_bytes(4, "big")
        out += len(rdata).to_bytes(2, "big") + rdata
    if edns:
        out += b"\0\0\x29\x04\xd0\0\0\0\0\0\0"  # OPT: payload 1232, no DO, no options
    return bytes(out)


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A burst of a thousand domains' queries overflowed the default 208 KiB
    # receive buffer (RcvbufErrors in /proc/net/snmp): lost queries then cost
    # the MTA a DNS timeout and a deferral. Capped by net.core.rmem_max.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        data, addr = sock.recvfrom(4096)
        fast = fast_answer(data)
        if fast is not None:
            sock.sendto(fast, addr)
            continue
        try:
            query = dns.message.from_wire(data)
        except Exception:
            continue
        sock.sendto(answer(query).to_wire(), addr)


if __name__ == "__main__":
    main()
