"""Message authentication: SPF (RFC 7208), DKIM (RFC 6376, 8463), DMARC (RFC 7489),
Authentication-Results (RFC 8601), and DKIM signing of outgoing mail."""

from postel.auth.dkim_key import public_key_record
from postel.auth.dkim_sign import DKIMSigner, SignSelector, sign_message
from postel.auth.dkim_verify import verify_dkim
from postel.auth.errors import (
    AuthError,
    DKIMKeyError,
    DKIMSignError,
    DMARCSyntaxError,
    FromHeaderError,
    SPFSyntaxError,
)
from postel.auth.results import AuthResults, DKIMResult, DMARCResult, SPFResult
from postel.auth.spf.evaluate import check_host
from postel.auth.verify import verify_message, verify_spf

__all__ = [
    "AuthError",
    "AuthResults",
    "DKIMKeyError",
    "DKIMResult",
    "DKIMSignError",
    "DKIMSigner",
    "DMARCResult",
    "DMARCSyntaxError",
    "FromHeaderError",
    "SPFResult",
    "SPFSyntaxError",
    "SignSelector",
    "check_host",
    "public_key_record",
    "sign_message",
    "verify_dkim",
    "verify_message",
    "verify_spf",
]
