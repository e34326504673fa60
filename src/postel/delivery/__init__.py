"""Outgoing delivery of one message to one recipient domain.

MTA-STS (postel.mtastsdb), MX/TLSA gathering with DNSSEC status (RFC 7672
§2.2), the TLS decision per host (docs/delivery-policy.md), SMTP sessions
(postel.smtpclient) and TLS results for reports (RFC 8460, docs/tls-reporting.md).
"""

from postel.delivery.decide import HostDecision, decide
from postel.delivery.deliverer import Deliverer
from postel.delivery.errors import DeliveryError, InternalAddress, NextHopLookupError, NullMX
from postel.delivery.gather import (
    HostAddresses,
    HostTLSA,
    NextHops,
    gather_ips,
    gather_next_hops,
    gather_tlsa,
)
from postel.delivery.localonly import LOCALSERVE_MAILBOX
from postel.delivery.request import (
    DeliveryOutcome,
    DeliveryRequest,
    DomainSecurity,
    RecipientOutcome,
    TLSAttempt,
)
from postel.delivery.results import AttemptReport

__all__ = [
    "LOCALSERVE_MAILBOX",
    "AttemptReport",
    "Deliverer",
    "DeliveryError",
    "DeliveryOutcome",
    "DeliveryRequest",
    "DomainSecurity",
    "HostAddresses",
    "HostDecision",
    "HostTLSA",
    "InternalAddress",
    "NextHopLookupError",
    "NextHops",
    "NullMX",
    "RecipientOutcome",
    "TLSAttempt",
    "decide",
    "gather_ips",
    "gather_next_hops",
    "gather_tlsa",
]
