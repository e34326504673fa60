"""A minimal authoritative DNS stub for the benchmarks (UDP on 127.0.0.1:PORT).

Answers: MX of any name under sink.test -> "10 mx.sink.test."; A of
mx.sink.test -> 127.0.0.1; PTR of 127.0.0.1 -> localhost.; everything else
NXDOMAIN. No DNSSEC (so postel does no DANE: answers are not authentic).
Prints "ready" once bound. Usage: dnsstub.py PORT
"""

from __future__ import annotations

import socket
import sys

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def answer(query: dns.message.Message) -> dns.message.Message:
    resp = dns.message.make_response(query)
    resp.flags |= dns.flags.AA
    if not query.question:
        resp.set_rcode(dns.rcode.FORMERR)
        return resp
    q = query.question[0]
    name = q.name.to_text().lower()
    rdtype = q.rdtype
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
