"""The five security values of one recipient (docs/webmail-security-api.md)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

ASPECTS = ("starttls", "mtasts", "dnssec", "dane", "requiretls")


class Value(enum.StrEnum):
    """yes (green), no (red), error (grey: could not be determined), unknown (empty)."""

    YES = "yes"
    NO = "no"
    ERROR = "error"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Finding:
    """One aspect's value and a sentence for the tooltip saying what it means here."""

    value: Value
    detail: str


UNKNOWN = Finding(Value.UNKNOWN, "")


@dataclass(frozen=True)
class RecipientSecurity:
    """What is known about how safely mail to *address* will travel."""

    address: str
    domain: str
    starttls: Finding = UNKNOWN
    mtasts: Finding = UNKNOWN
    dnssec: Finding = UNKNOWN
    dane: Finding = UNKNOWN
    requiretls: Finding = UNKNOWN
    notes: tuple[str, ...] = field(default=())

    def finding(self, aspect: str) -> Finding:
        if aspect not in ASPECTS:
            raise KeyError(aspect)
        f: Finding = getattr(self, aspect)
        return f

    @property
    def requiretls_safe(self) -> bool:
        """REQUIRETLS yes and MTA-STS or DANE yes (the message can be
        required to travel over verified TLS all the way, RFC 8689 §4.2)."""
        return self.requiretls.value is Value.YES and (
            self.mtasts.value is Value.YES or self.dane.value is Value.YES
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "domain": self.domain,
            **{a: self.finding(a).value.value for a in ASPECTS},
            "details": {a: self.finding(a).detail for a in ASPECTS},
            "requiretls_safe": self.requiretls_safe,
            "notes": list(self.notes),
        }


def preselect_requiretls(results: list[RecipientSecurity]) -> bool:
    """Pre-select the REQUIRETLS option: every recipient supports it safely."""
    return bool(results) and all(r.requiretls_safe for r in results)
