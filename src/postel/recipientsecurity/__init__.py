"""Recipient security for the webmail compose bar (docs/webmail-security-api.md).

Per recipient five values, each yes/no/error/unknown: STARTTLS and REQUIRETLS
from the sender account's memory of earlier deliveries, MTA-STS (enforce),
DNSSEC (authentic MX answers) and DANE (TLSA records of the first MX host).
"""

from postel.recipientsecurity.errors import BadAddress
from postel.recipientsecurity.lookup import evaluate_recipient, recipient_domain
from postel.recipientsecurity.model import (
    ASPECTS,
    Delivery,
    Finding,
    RecipientSecurity,
    Value,
    preselect_requiretls,
)

__all__ = [
    "ASPECTS",
    "BadAddress",
    "Delivery",
    "Finding",
    "RecipientSecurity",
    "Value",
    "evaluate_recipient",
    "preselect_requiretls",
    "recipient_domain",
]
