"""Does the configured resolver validate DNSSEC? (checked by `postel serve` at start)"""

from __future__ import annotations

from postel.dns.base import Resolver
from postel.dns.ede import describe
from postel.dns.errors import BogusError, DNSError, NotFound, TemporaryError

# Well-known signed data: the root zone's SOA (RFC 4033 §5) and a name whose
# DNSSEC is broken on purpose, which a validating resolver must refuse.
DEFAULT_PROBE = "."
DEFAULT_PROBE_TYPE = "SOA"
DEFAULT_BOGUS_PROBE = "dnssec-failed.org."


async def check_validating(
    resolver: Resolver,
    probe: str = DEFAULT_PROBE,
    probe_type: str = DEFAULT_PROBE_TYPE,
    bogus_probe: str | None = DEFAULT_BOGUS_PROBE,
    bogus_probe_type: str = "A",
) -> tuple[bool, str]:
    """(validates, explanation).

    Validating means: ``probe`` comes back with the AD bit (RFC 4035 §3.2.3),
    and ``bogus_probe`` (if given) is refused instead of answered.
    """
    try:
        answer = await resolver.lookup(probe, probe_type)
    except DNSError as e:
        return False, f"cannot check DNSSEC validation: lookup of {probe} {probe_type} failed: {e}"
    if not answer.authentic:
        return False, (
            f"resolver does not validate DNSSEC: {answer.qname} {answer.rdtype} came back "
            "without the AD bit (configure a validating resolver, e.g. unbound on localhost)"
        )
    good = f"{answer.qname} {answer.rdtype} came back authentic (AD bit)"
    if bogus_probe is None:
        return True, f"resolver validates DNSSEC: {good}"
    try:
        bad = await resolver.lookup(bogus_probe, bogus_probe_type)
    except BogusError as e:
        return True, (
            f"resolver validates DNSSEC: {good}, and {e.qname} {e.rdtype} was refused as bogus, "
            f"{describe(e.ede_code, e.ede_text)}"
        )
    except TemporaryError as e:
        return True, (
            f"resolver validates DNSSEC: {good}, and {e.qname or bogus_probe} "
            f"{bogus_probe_type} was refused (SERVFAIL without extended DNS error)"
        )
    except NotFound as e:
        return True, f"resolver validates DNSSEC: {good} ({e})"
    except DNSError as e:
        return True, f"resolver validates DNSSEC: {good} (bogus probe: {e})"
    return False, (
        f"resolver does not validate DNSSEC: it answered {bad.qname} {bad.rdtype}, "
        "whose DNSSEC signatures are broken on purpose "
        f"({'with' if bad.authentic else 'without'} the AD bit)"
    )
