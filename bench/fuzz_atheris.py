"""Coverage-guided fuzzing with atheris (libFuzzer) of postel's parsers.

    python bench/fuzz_atheris.py TARGET [libFuzzer options, e.g. -max_total_time=60]

TARGET: smtp (MAIL/RCPT arguments), tlsrpt (TLS reports), dmarc (DMARC
aggregate reports), mtasts (MTA-STS policies and records), records (TLSRPT,
DMARC, SPF records), message (header parsing of the store and the queue),
imap (IMAP commands and the MIME structure of messages).
Each input must give a result or the parser's own error; anything else is a
crash that libFuzzer reports with the input. Seeds: ../shared/testdata.
`make fuzz` runs every target for a bounded time when atheris is installed
(`pip install atheris`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from postel.auth.dmarc.record import parse_record as parse_dmarc_record
    from postel.auth.errors import AuthError
    from postel.auth.spf.record import parse_record as parse_spf_record
    from postel.dmarcrpt.errors import DMARCReportError
    from postel.dmarcrpt.parse import parse_report as parse_dmarc_report
    from postel.imapserver import binary
    from postel.imapserver.command import parse_command
    from postel.imapserver.errors import ParseError
    from postel.imapserver.mime import NoSuchPart, parse_structure
    from postel.mtasts.errors import MTASTSError
    from postel.mtasts.policy import parse_policy
    from postel.mtasts.record import parse_record as parse_mtasts_record
    from postel.queue.headers import flags_from_header, header_fields, split_header
    from postel.smtp.errors import SMTPError
    from postel.smtp.params import parse_mail, parse_rcpt
    from postel.store.envelope import header_block, parse_envelope
    from postel.tlsrpt.errors import TLSRPTError
    from postel.tlsrpt.parse import parse_report as parse_tlsrpt_report
    from postel.tlsrpt.record import parse_record as parse_tlsrpt_record

EXT = frozenset({"SIZE", "8BITMIME", "SMTPUTF8", "REQUIRETLS"})
TESTDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"


def smtp(data: bytes) -> None:
    # Sessions refuse lines that are not UTF-8 before parsing (session._command).
    text = data.decode("utf-8", "replace")
    for fn in (lambda: parse_mail(text, EXT), lambda: parse_rcpt(text, smtputf8=True)):
        try:
            fn()
        except SMTPError:
            pass


def tlsrpt(data: bytes) -> None:
    try:
        parse_tlsrpt_report(data)
    except TLSRPTError:
        pass


def dmarc(data: bytes) -> None:
    try:
        parse_dmarc_report(data)
    except DMARCReportError:
        pass


def mtasts(data: bytes) -> None:
    try:
        parse_policy(data)
    except MTASTSError:
        pass
    try:
        parse_mtasts_record(data.decode("utf-8", "replace"))
    except MTASTSError:
        pass


def records(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for fn, err in (
        (parse_tlsrpt_record, TLSRPTError),
        (parse_dmarc_record, AuthError),
        (parse_spf_record, AuthError),
    ):
        try:
            fn(text)  # type: ignore[operator]
        except err:  # type: ignore[misc]
            pass


def message(data: bytes) -> None:
    parse_envelope(header_block(data))
    block = split_header(data)
    header_fields(block)
    flags_from_header(block, eightbit=False)


def imap(data: bytes) -> None:
    # The reader splits a command into line text and literals at "{n}\r\n".
    try:
        parse_command(data.split(b"\0"))
    except ParseError:
        pass
    root = parse_structure(data)
    try:  # FETCH BINARY[1] (RFC 3516): decoded or UNKNOWN-CTE
        binary.content(root, (1,), data)
    except (NoSuchPart, binary.UnknownCTE):
        pass


TARGETS: dict[str, tuple[Callable[[bytes], None], str]] = {
    "smtp": (smtp, ""),
    "tlsrpt": (tlsrpt, "tlsrpt"),
    "dmarc": (dmarc, "dmarc"),
    "mtasts": (mtasts, "mtasts-policy"),
    "records": (records, "mtasts-record"),
    "message": (message, "dmarc"),
    "imap": (imap, ""),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]")
    fn, seeds = TARGETS[sys.argv[1]]
    args = [sys.argv[0], *sys.argv[2:]]
    corpus = Path(f"/tmp/postel-fuzz-{sys.argv[1]}")
    if seeds and not corpus.exists():
        corpus.mkdir()
        for p in (TESTDATA / seeds).iterdir():
            if p.is_file() and p.suffix != ".md":
                (corpus / p.name).write_bytes(p.read_bytes())
    corpus.mkdir(exist_ok=True)
    atheris.Setup([*args, str(corpus)], fn)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
