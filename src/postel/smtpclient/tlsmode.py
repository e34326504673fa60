"""TLS modes of the SMTP client (docs/delivery-policy.md)."""

from __future__ import annotations

import enum


class TLSMode(enum.Enum):
    """How a session uses TLS.

    IMMEDIATE: TLS from the first byte (RFC 8314 style). STARTTLS_REQUIRED: send
    STARTTLS even when not announced; failure ends the session. OPPORTUNISTIC:
    STARTTLS only when the server announces it (RFC 3207). SKIP: plaintext.
    """

    IMMEDIATE = "immediate"
    STARTTLS_REQUIRED = "starttls-required"
    OPPORTUNISTIC = "opportunistic"
    SKIP = "skip"
