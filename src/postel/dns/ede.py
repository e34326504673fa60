"""Extended DNS error codes (RFC 8914 §4) and which of them mean "DNSSEC bogus"."""

from __future__ import annotations

EDE_NAMES: dict[int, str] = {
    0: "Other Error",
    1: "Unsupported DNSKEY Algorithm",
    2: "Unsupported DS Digest Type",
    3: "Stale Answer",
    4: "Forged Answer",
    5: "DNSSEC Indeterminate",
    6: "DNSSEC Bogus",
    7: "Signature Expired",
    8: "Signature Not Yet Valid",
    9: "DNSKEY Missing",
    10: "RRSIGs Missing",
    11: "No Zone Key Bit Set",
    12: "NSEC Missing",
    13: "Cached Error",
    14: "Not Ready",
    15: "Blocked",
    16: "Censored",
    17: "Filtered",
    18: "Prohibited",
    19: "Stale NXDOMAIN Answer",
    20: "Not Authoritative",
    21: "Not Supported",
    22: "No Reachable Authority",
    23: "Network Error",
    24: "Invalid Data",
    25: "Signature Expired before Valid",
    26: "Too Early",
    27: "Unsupported NSEC3 Iterations Value",
    28: "Unable to conform to policy",
    29: "Synthesized",
}

# Codes that report a DNSSEC validation failure (RFC 8914 §4.2-4.13, §4.26, §4.28).
DNSSEC_FAILURE_CODES: frozenset[int] = frozenset({1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 25, 27})


def is_dnssec_failure(code: int | None) -> bool:
    return code is not None and code in DNSSEC_FAILURE_CODES


def describe(code: int | None, text: str = "") -> str:
    """Human-readable form, e.g. ``EDE 9 (DNSKEY Missing): no DS match``."""
    if code is None:
        return f"no extended DNS error{': ' + text if text else ''}"
    name = EDE_NAMES.get(code, "unassigned")
    return f"EDE {code} ({name}){': ' + text if text else ''}"
