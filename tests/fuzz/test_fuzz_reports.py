"""Fuzzing the TLS (RFC 8460) and DMARC aggregate (RFC 7489 appendix C) report
parsers with mutated real reports: a result or the package's own error, never
anything else."""

from __future__ import annotations

import gzip
import json

from fuzzing import any_input, bounded, samples
from hypothesis import given
from hypothesis import strategies as st

from postel.dmarcrpt import parse as dmarc_parse
from postel.dmarcrpt.errors import DMARCReportError
from postel.tlsrpt import parse as tlsrpt_parse
from postel.tlsrpt.errors import TLSRPTError

TLSRPT = samples("tlsrpt", ".json", ".gz")
DMARC = samples("dmarc", ".xml", ".gz", ".zip", ".eml")


@bounded
@given(any_input(TLSRPT), st.booleans())
def test_tlsrpt_report_parser(data: bytes, strict: bool) -> None:
    try:
        tlsrpt_parse.parse_report(data, strict=strict)
    except TLSRPTError:
        pass


@bounded
@given(any_input(TLSRPT))
def test_tlsrpt_report_parser_gzip(data: bytes) -> None:
    try:
        tlsrpt_parse.parse_report(gzip.compress(data))
    except TLSRPTError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
report_keys = st.sampled_from(
    ["organization-name", "date-range", "start-datetime", "end-datetime", "contact-info",
     "report-id", "policies", "policy", "policy-type", "policy-string", "policy-domain",
     "mx-host", "summary", "total-successful-session-count", "total-failure-session-count",
     "failure-details", "result-type", "sending-mta-ip", "receiving-mx-hostname",
     "failed-session-count"]
)  # fmt: skip


@bounded
@given(st.dictionaries(report_keys, json_values, max_size=8))
def test_tlsrpt_report_shapes(obj: dict[str, object]) -> None:
    try:
        tlsrpt_parse.parse_report(json.dumps(obj).encode())
    except TLSRPTError:
        pass


@bounded
@given(any_input(DMARC), st.booleans())
def test_dmarc_report_parser(data: bytes, strict: bool) -> None:
    try:
        dmarc_parse.parse_report(data, strict=strict)
    except DMARCReportError:
        pass
