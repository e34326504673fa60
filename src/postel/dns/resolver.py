"""DNSResolver: lookups through a validating recursive resolver (dnspython)."""

from __future__ import annotations

import asyncio
import logging
import time

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.TLSA

from postel.dns.answer import Answer
from postel.dns.base import Resolver
from postel.dns.errors import BogusError, CnameChainError, NotFound, TemporaryError
from postel.dns.names import to_name, to_rdtype
from postel.dns.resolvconf import system_nameservers
from postel.dns.response import Step, interpret
from postel.dns.udp import UDPClient, UDPTimeout
from postel.dns.wire import DNSWireFormatError, WireResponse, parse
from postel.metrics import record as metrics

log = logging.getLogger("postel.dns")

# RFC 7672 §3.1: a TLSA record whose data length does not fit its matching
# type is "unusable", not a reason to drop the whole answer. dnspython rejects
# such records while parsing the message, so accept any length for TLSA and
# leave the check to postel.dane.
dns.rdtypes.ANY.TLSA.TLSA._cert_length_by_mtype = {}

# RFC 8914 needs no request option: a resolver adds EDE to any EDNS response.
# 1232 bytes avoids fragmentation (DNS flag day 2020); larger answers go to TCP.
EDNS_PAYLOAD = 1232


def make_query(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.QueryMessage:
    """Query with RD, EDNS0 and the DO bit (RFC 4035 §3.2.1)."""
    return dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=True, payload=EDNS_PAYLOAD)


# The parts of make_query()'s wire form that do not depend on the question:
# header (id 0, RD, one question, one additional record) and the OPT record
# (RFC 6891 §6.1.2: root owner, type 41, class = payload size, DO bit in the
# TTL field, RFC 3225 §3; no options).
_HEADER = b"\0\0\x01\x00\0\x01\0\0\0\0\0\x01"
_OPT = b"\0\0\x29" + EDNS_PAYLOAD.to_bytes(2, "big") + b"\0\0\x80\0\0\0"


def query_wire(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> bytes:
    """make_query(name, rdtype).to_wire() with id 0, without building a message."""
    labels = b"".join(len(label).to_bytes(1, "big") + label for label in name.labels)
    return _HEADER + labels + int(rdtype).to_bytes(2, "big") + b"\0\x01" + _OPT


class DNSResolver(Resolver):
    """Asks the ``nameservers`` in order (default: /etc/resolv.conf).

    ``timeout`` bounds one lookup in total, including CNAME re-queries and
    trying further servers; one server gets at most ``attempt_timeout``.
    Trusts the AD bit, so the nameservers must be a validating resolver
    reached over a trusted path (RFC 4033 §4, RFC 6698 §1.3).
    """

    def __init__(
        self,
        nameservers: list[str] | None = None,
        port: int = 53,
        timeout: float = 5.0,
        *,
        attempt_timeout: float = 2.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.nameservers = list(nameservers) if nameservers else system_nameservers()
        self.port = port
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.log = logger or log
        self.udp = UDPClient()

    async def lookup(self, name: str, rdtype: str) -> Answer:
        started = time.monotonic()
        result = "error"
        try:
            answer = await self._lookup(name, rdtype)
            result = "ok"
            return answer
        except NotFound:
            result = "notfound"
            raise
        except BogusError:
            result = "bogus"
            raise
        except TemporaryError:
            result = "temporary"
            raise
        finally:
            metrics.dns_lookup(rdtype, result, time.monotonic() - started)

    async def _lookup(self, name: str, rdtype: str) -> Answer:
        qname = to_name(name)
        qtype = to_rdtype(rdtype)
        deadline = time.monotonic() + self.timeout
        chain: list[dns.name.Name] = []
        current = qname
        authentic = True
        ttl: int | None = None  # the smallest over the rounds
        # Each round follows the CNAMEs present in one response; the chain limit
        # in interpret() bounds the number of rounds.
        while True:
            try:
                step = await self._ask(qname, qtype, current, chain, deadline)
            except NotFound as e:
                if not authentic:
                    e.authentic = False
                if ttl is not None and e.ttl is not None:
                    e.ttl = min(e.ttl, ttl)
                raise
            authentic = authentic and step.authentic
            if step.ttl is not None:
                ttl = step.ttl if ttl is None else min(ttl, step.ttl)
            chain = step.chain
            current = step.name
            if step.records is not None:
                q_text = qname.to_text()
                answer = Answer(
                    qname=q_text,
                    name=q_text if current is qname else current.to_text(),
                    rdtype=dns.rdatatype.to_text(qtype),
                    records=step.records,
                    authentic=authentic,
                    cname_chain=[n.to_text() for n in chain],
                    ttl=ttl,
                )
                self.log.debug(
                    "dns answer",
                    extra={
                        "qname": answer.qname,
                        "rdtype": answer.rdtype,
                        "count": len(answer.records),
                        "authentic": authentic,
                        "cnames": len(chain),
                    },
                )
                return answer

    async def _exchange(
        self, name: dns.name.Name, qtype: dns.rdatatype.RdataType, server: str, timeout: float
    ) -> WireResponse:
        """One query to one server over UDP, again over TCP if the answer was
        truncated (RFC 7766 §5); the answer read by postel.dns.wire (no
        dnspython message: most of a lookup's CPU). Over TCP dnspython
        exchanges and checks the answer, whose wire form is then read the
        same way (truncation is rare: one form to interpret)."""
        started = time.monotonic()
        wire = query_wire(name, qtype)
        data = await self.udp.query(wire, server, self.port, timeout)
        if not data[2] & 0x02:  # TC
            return parse(data)
        left = timeout - (time.monotonic() - started)
        if left <= 0:
            raise UDPTimeout()
        response = await dns.asyncquery.tcp(
            make_query(name, qtype), server, timeout=left, port=self.port
        )
        return parse(response.to_wire())

    async def _ask(
        self,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        current: dns.name.Name,
        chain: list[dns.name.Name],
        deadline: float,
    ) -> Step:
        errors: list[str] = []
        last: TemporaryError | None = None
        # Servers that timed out or could not be reached are asked again while
        # time is left (UDP gets lost); servers that answered with an error are not.
        pending = list(self.nameservers)
        while pending and deadline - time.monotonic() > 0:
            retry: list[str] = []
            for server in pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    response = await self._exchange(
                        current, qtype, server, min(self.attempt_timeout, remaining)
                    )
                except (dns.exception.Timeout, UDPTimeout):
                    errors.append(f"{server}: timeout")
                    retry.append(server)
                    continue
                except (
                    dns.exception.DNSException,
                    DNSWireFormatError,
                    OSError,
                    ValueError,
                ) as e:
                    errors.append(f"{server}: {type(e).__name__}: {e}")
                    retry.append(server)
                    continue
                try:
                    return interpret(
                        response, qname, qtype, start=current, chain=chain, server=server
                    )
                except (NotFound, BogusError, CnameChainError):
                    raise
                except DNSWireFormatError as e:  # a record read only when needed
                    errors.append(f"{server}: {type(e).__name__}: {e}")
                    retry.append(server)
                    continue
                except TemporaryError as e:
                    # SERVFAIL without a DNSSEC reason, REFUSED, ...: try the next server.
                    errors.append(f"{server}: {e}")
                    last = e
            pending = retry
            if retry:
                # Do not spin on an immediately failing server (e.g. ICMP unreachable).
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        detail = "; ".join(errors) or "no time left"
        q_text, t_text = qname.to_text(), dns.rdatatype.to_text(qtype)
        self.log.info(
            "dns lookup failed", extra={"qname": q_text, "rdtype": t_text, "error": detail}
        )
        if last is not None and len(errors) == 1:
            raise last
        if len(errors) > 6:
            detail = "; ".join([*errors[:3], f"... {len(errors) - 4} more ...", errors[-1]])
        raise TemporaryError(
            f"{q_text} {t_text}: no usable answer from {', '.join(self.nameservers)}: {detail}",
            qname=q_text,
            rdtype=t_text,
            ede_code=last.ede_code if last else None,
            ede_text=last.ede_text if last else "",
        )
