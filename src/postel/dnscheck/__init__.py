"""Live DNS check of a hosted domain (docs/dns-records.md): pure checks over looked-up facts."""

from postel.dnscheck.errors import UnknownDomain
from postel.dnscheck.gather import CheckOptions
from postel.dnscheck.model import Expected, Facts, Found, PolicyFetch, Probe, Section
from postel.dnscheck.run import check_domain, options_from_config

__all__ = [
    "CheckOptions",
    "Expected",
    "Facts",
    "Found",
    "PolicyFetch",
    "Probe",
    "Section",
    "UnknownDomain",
    "check_domain",
    "options_from_config",
]
