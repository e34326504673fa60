"""Outgoing SMTP: one session to one host IP with a TLS policy (TLS modes, PKIX
and DANE evaluation for enforcement and RFC 8460 reporting).

See docs/delivery-policy.md and docs/tls-reporting.md.
"""

from postel.smtpclient.classify import TLSFailure, classify_tls_error
from postel.smtpclient.dotstuff import DotStuffer, stuff, unstuff
from postel.smtpclient.errors import ProtocolError
from postel.smtpclient.pkix import PKIXResult, verify_pkix
from postel.smtpclient.policy import TLSPolicy
from postel.smtpclient.result import DataReply, RcptResult, SessionResult
from postel.smtpclient.session import deliver_session
from postel.smtpclient.tlsmode import TLSMode

__all__ = [
    "DataReply",
    "DotStuffer",
    "PKIXResult",
    "ProtocolError",
    "RcptResult",
    "SessionResult",
    "TLSFailure",
    "TLSMode",
    "TLSPolicy",
    "classify_tls_error",
    "deliver_session",
    "stuff",
    "unstuff",
    "verify_pkix",
]
