"""DANE for SMTP: TLSA records, usability and certificate verification (RFC 6698, 7671, 7672).

Pure logic: no I/O of its own; DNS lookups get a resolver passed in.
"""

from postel.dane.allowed import allowed_names, normalize_name, tlsa_base_domain, tlsa_qname
from postel.dane.errors import DANEError, InvalidNameError, TLSAParseError
from postel.dane.names import matching_name, name_matches, presented_names
from postel.dane.record import (
    MatchingType,
    Selector,
    TLSARecord,
    Usage,
    association_data,
    policy_strings,
    tlsa_for,
    usable_records,
)
from postel.dane.verify import (
    REASON_DANE_NO_MATCH,
    RESULT_CERTIFICATE_EXPIRED,
    RESULT_HOST_MISMATCH,
    RESULT_TLSA_INVALID,
    RESULT_VALIDATION_FAILURE,
    VerifyResult,
    verify_chain,
)

__all__ = [
    "REASON_DANE_NO_MATCH",
    "RESULT_CERTIFICATE_EXPIRED",
    "RESULT_HOST_MISMATCH",
    "RESULT_TLSA_INVALID",
    "RESULT_VALIDATION_FAILURE",
    "DANEError",
    "InvalidNameError",
    "MatchingType",
    "Selector",
    "TLSAParseError",
    "TLSARecord",
    "Usage",
    "VerifyResult",
    "allowed_names",
    "association_data",
    "matching_name",
    "name_matches",
    "normalize_name",
    "policy_strings",
    "presented_names",
    "tlsa_base_domain",
    "tlsa_for",
    "tlsa_qname",
    "usable_records",
    "verify_chain",
]
