"""Finding and removing Authentication-Results fields with our authserv-id
(RFC 8601 §5): postel.auth.arstrip."""

from __future__ import annotations

import pytest

from postel.auth.arstrip import authserv_id, header_end, own_results_spans, strip_own_results

OURS = "mail.example.org"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" mail.example.org; dmarc=pass", "mail.example.org"),
        ("mail.example.org;dmarc=pass", "mail.example.org"),
        (" MAIL.Example.ORG 1; none", "mail.example.org"),
        (" (a comment (nested \\) one)) mail.example.org; none", "mail.example.org"),
        ("\r\n\t(folded)\r\n mail.example.org; none", "mail.example.org"),
        (' "mail.example.org"; none', "mail.example.org"),
        (' "mail.ex\\ample.org" ; none', "mail.example.org"),
        (" ; none", None),
        ("", None),
        (" (only a comment", None),
    ],
)
def test_authserv_id(value: str, expected: str | None) -> None:
    assert authserv_id(value) == expected


def test_header_end() -> None:
    assert header_end(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n") == len(b"A: 1\r\nB: 2\r\n")
    assert header_end(b"A: 1\nB: 2\n\nbody\n") == len(b"A: 1\nB: 2\n")
    assert header_end(b"A: 1\r\n") == len(b"A: 1\r\n")  # no body
    assert header_end(b"\r\nbody") == 0


def _strip(message: bytes) -> bytes | None:
    out = strip_own_results(message, OURS)
    return None if out is None else out[0]


def test_every_own_field_removed_others_kept() -> None:
    message = (
        b"Authentication-Results: mail.example.org; dmarc=pass\r\n"
        b"From: a@example.org\r\n"
        b"Authentication-Results: other.example; spf=pass\r\n"
        b"authentication-results\t: (c) MAIL.EXAMPLE.ORG.;\r\n"
        b"\tspf=pass;\r\n"
        b" dmarc=pass\r\n"
        b"Authentication-Results: mail.example.org.evil.example; dmarc=pass\r\n"
        b"Authentication-Results: xmail.example.org; dmarc=pass\r\n"
        b"Authentication-Results-Extra: mail.example.org; dmarc=pass\r\n"
        b"X-Authentication-Results: mail.example.org; dmarc=pass\r\n"
        b'Authentication-Results: "mail.example.org"; dkim=pass\r\n'
        b"\r\n"
        b"Authentication-Results: mail.example.org; in the body\r\n"
    )
    out = strip_own_results(message, OURS)
    assert out is not None
    assert out[1] == 3
    assert out[0] == (
        b"From: a@example.org\r\n"
        b"Authentication-Results: other.example; spf=pass\r\n"
        b"Authentication-Results: mail.example.org.evil.example; dmarc=pass\r\n"
        b"Authentication-Results: xmail.example.org; dmarc=pass\r\n"
        b"Authentication-Results-Extra: mail.example.org; dmarc=pass\r\n"
        b"X-Authentication-Results: mail.example.org; dmarc=pass\r\n"
        b"\r\n"
        b"Authentication-Results: mail.example.org; in the body\r\n"
    )


def test_lf_line_ends_and_last_field_without_body() -> None:
    message = b"Subject: x\nAuthentication-Results: mail.example.org;\n dmarc=pass\n"
    assert _strip(message) == b"Subject: x\n"
    no_newline = b"Subject: x\r\nAuthentication-Results: mail.example.org; dmarc=pass"
    assert _strip(no_newline) == b"Subject: x\r\n"


def test_nothing_to_remove_is_none() -> None:
    assert strip_own_results(b"Subject: x\r\n\r\nbody\r\n", OURS) is None
    assert own_results_spans(b"Authentication-Results: other.example; none\r\n\r\n", OURS) == []


def test_large_header_section_is_fast() -> None:
    import time

    fields = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 60) for i in range(50_000))
    message = fields + b"Authentication-Results: mail.example.org; dmarc=pass\r\n\r\n" + fields
    start = time.perf_counter()
    out = strip_own_results(message, OURS)
    assert time.perf_counter() - start < 1.0
    assert out is not None and out[1] == 1 and len(out[0]) == 2 * len(fields) + 2


def test_postels_own_trace_fields_removed_whatever_their_value() -> None:
    """A sender cannot plant the junk filter's fields (X-Postel-DNSBL, rspamd's
    verdict): the ones postel adds on top are the only ones left."""
    from postel.junk.rspamdproto import FIELD as RSPAMD_FIELD
    from postel.smtpserver.junkfiling import DNSBL_FIELD

    message = (
        b"From: a@example.org\r\n"
        b"x-postel-rspamd: no action; score=-20.0\r\n"
        b"Subject: hi\r\n"
        b"X-Postel-DNSBL: none;\r\n\tlisted nowhere\r\n"
        b"X-Postel-Other: kept\r\n"
        b"\r\n"
        b"X-Postel-DNSBL: in the body, kept\r\n"
    )
    stripped = strip_own_results(message, "mail.example.org")
    assert stripped is not None and stripped[1] == 2
    assert stripped[0] == (
        b"From: a@example.org\r\nSubject: hi\r\nX-Postel-Other: kept\r\n\r\n"
        b"X-Postel-DNSBL: in the body, kept\r\n"
    )
    from postel.auth.arstrip import OWN_TRACE_FIELDS

    assert {RSPAMD_FIELD, DNSBL_FIELD} <= set(OWN_TRACE_FIELDS)
