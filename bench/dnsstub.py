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


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        data, addr = sock.recvfrom(4096)
        try:
            query = dns.message.from_wire(data)
        except Exception:
            continue
        sock.sendto(answer(query).to_wire(), addr)


if __name__ == "__main__":
    main()
