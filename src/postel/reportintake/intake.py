"""Report intake: parse a delivered TLS or DMARC report message and store it.

The SMTP server calls :func:`intake` after a message to a report address has
been delivered to its mailbox; nothing here may fail that delivery, so bad
input is logged and returned as a result, never raised. :func:`intake` does
the work in a child process under a hard memory and CPU budget
(postel.reportintake.child), off the SMTP worker's event loop.
"""

from __future__ import annotations

import logging
from pathlib import Path

from postel import dmarcdb, dmarcrpt, tlsrpt
from postel.datadir import DataDir
from postel.pg.target import PgTarget
from postel.reportintake.child import DEFAULT_CHILD_LIMITS, ChildLimits, run_in_child
from postel.reportintake.errors import UnknownKind
from postel.reportintake.message import TooLarge, header_from, read_bounded
from postel.reportintake.result import IntakeResult, Status
from postel.reportintake.stores import dmarc_reports, tls_reports

log = logging.getLogger("postel.reportintake")

KINDS = ("tlsrpt", "tlsrpt-host", "dmarc")


def _message_ref(datadir: DataDir, path: Path) -> str:
    """The message file relative to the data directory, e.g. accounts/a/msg/0/7;
    empty for a transient file (the server's copy in tmp/, removed after intake)."""
    try:
        rel = Path(path).resolve().relative_to(Path(datadir.root).resolve())
    except ValueError:
        return str(path)
    return "" if rel.parts[:1] == (datadir.tmp.name,) else str(rel)


def _unparseable(kind: str, rcpt: str, error: str) -> IntakeResult:
    return IntakeResult(kind, rcpt, Status.UNPARSEABLE, error=error)


def _failed(kind: str, rcpt: str, error: str) -> IntakeResult:
    return IntakeResult(kind, rcpt, Status.FAILED, error=error)


def _where(where: str, e: Exception) -> str:
    """The error, prefixed with where the report was to go unless it says so."""
    text = str(e)
    return text if text.startswith(where) else f"{where}: {text}"


def _tlsrpt(
    datadir: DataDir, kind: str, data: bytes, rcpt: str, ref: str, pg: PgTarget | None
) -> IntakeResult:
    try:
        parsed = tlsrpt.parse_report(data)
    except tlsrpt.TLSRPTError as e:
        return _unparseable(kind, rcpt, str(e))
    report = parsed.report
    where = str(datadir.tlsrpt_db) if pg is None else "PostgreSQL"
    try:
        with tls_reports(datadir, pg) as (db, where):
            added = db.add(
                report,
                kind="host" if kind == "tlsrpt-host" else "domain",
                warnings=parsed.warnings,
                from_addr=header_from(data),
                to_rcpt=rcpt,
                message_ref=ref,
            )
    except Exception as e:  # the message is delivered; storing is best effort
        return _failed(kind, rcpt, _where(where, e))
    return _stored(
        kind,
        rcpt,
        added.id,
        added.duplicate,
        report.organization_name,
        report.report_id,
        parsed.warnings,
        report.total_failures(),
    )


def _dmarc(datadir: DataDir, data: bytes, rcpt: str, ref: str, pg: PgTarget | None) -> IntakeResult:
    try:
        parsed = dmarcrpt.parse_report(data)
    except dmarcrpt.DMARCReportError as e:
        return _unparseable("dmarc", rcpt, str(e))
    md = parsed.report.metadata
    where = str(datadir.dmarcrpt_db) if pg is None else "PostgreSQL"
    try:
        with dmarc_reports(datadir, pg) as (db, where):
            added = db.add(
                parsed.report,
                warnings=parsed.warnings,
                from_addr=header_from(data),
                to_rcpt=rcpt,
                message_ref=ref,
            )
    except Exception as e:  # the message is delivered; storing is best effort
        return _failed("dmarc", rcpt, _where(where, e))
    failing = dmarcdb.report_counts(parsed.report).dmarc_fail
    return _stored(
        "dmarc",
        rcpt,
        added.id,
        added.duplicate,
        md.org_name,
        md.report_id,
        parsed.warnings,
        failing,
    )


def _stored(
    kind: str,
    rcpt: str,
    db_id: int,
    duplicate: bool,
    org: str,
    report_id: str,
    warnings: list[str],
    failures: int,
) -> IntakeResult:
    status = Status.DUPLICATE if duplicate else Status.STORED
    return IntakeResult(kind, rcpt, status, db_id, org, report_id, list(warnings), "", failures)


def log_result(res: IntakeResult) -> None:
    """Log the outcome of one intake, where it is reported (the caller's process)."""
    if res.status is Status.UNPARSEABLE:
        log.warning(
            "unparseable report", extra={"kind": res.kind, "rcpt": res.rcpt, "error": res.error}
        )
    elif res.status is Status.FAILED:
        log.error(
            "storing report failed", extra={"kind": res.kind, "rcpt": res.rcpt, "error": res.error}
        )
    elif res.status is Status.STORED and res.failures:
        # docs/received-reports.md: the admin home and the daily digest say more.
        log.warning(
            "report shows failures for our domain",
            extra={
                "kind": res.kind,
                "rcpt": res.rcpt,
                "id": res.db_id,
                "org": res.organization,
                "report_id": res.report_id,
                "failures": res.failures,
            },
        )
    else:
        log.info(
            "report duplicate" if res.status is Status.DUPLICATE else "report stored",
            extra={
                "kind": res.kind,
                "rcpt": res.rcpt,
                "id": res.db_id,
                "org": res.organization,
                "report_id": res.report_id,
                "warnings": len(res.warnings),
            },
        )


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownKind(f"report kind {kind!r}: expected one of {', '.join(KINDS)}")


def take_in(
    datadir: DataDir | Path,
    kind: str,
    message_path: Path,
    rcpt: str,
    *,
    max_bytes: int | None = None,
    pg: PgTarget | None = None,
) -> IntakeResult:
    """Parse the report message at *message_path* and store it (in the data
    directory, or on the PostgreSQL store *pg*); the outcome, not logged."""
    check_kind(kind)
    dd = datadir if isinstance(datadir, DataDir) else DataDir(Path(datadir))
    limit = max_bytes or (
        dmarcrpt.DEFAULT_LIMITS.max_input_bytes
        if kind == "dmarc"
        else tlsrpt.DEFAULT_LIMITS.max_input_bytes
    )
    try:
        data = read_bounded(Path(message_path), limit)
    except TooLarge as e:
        return _unparseable(kind, rcpt, str(e))
    except OSError as e:
        return _failed(kind, rcpt, f"{message_path}: cannot read message: {e.strerror or e}")
    ref = _message_ref(dd, Path(message_path))
    if kind == "dmarc":
        return _dmarc(dd, data, rcpt, ref, pg)
    return _tlsrpt(dd, kind, data, rcpt, ref, pg)


def intake_sync(
    datadir: DataDir | Path,
    kind: str,
    message_path: Path,
    rcpt: str,
    *,
    max_bytes: int | None = None,
    pg: PgTarget | None = None,
) -> IntakeResult:
    """Parse the report message at *message_path* and store it (blocking, in this process).

    *kind*: "tlsrpt" (a report to a domain's TLSRPT address), "tlsrpt-host"
    (to the host's TLSRPT address, about the MX host) or "dmarc". Messages
    over *max_bytes* (default: the parser's input limit) are not parsed. *pg*:
    the PostgreSQL store the nodes share (None: the data directory's files).
    """
    res = take_in(datadir, kind, message_path, rcpt, max_bytes=max_bytes, pg=pg)
    log_result(res)
    return res


async def intake(
    datadir: DataDir | Path,
    kind: str,
    message_path: Path,
    rcpt: str,
    *,
    max_bytes: int | None = None,
    limits: ChildLimits = DEFAULT_CHILD_LIMITS,
    pg: PgTarget | None = None,
) -> IntakeResult:
    """:func:`intake_sync` in a child process under *limits*, so that neither the
    event loop nor this process's memory pays for the parse."""
    check_kind(kind)
    root = datadir.root if isinstance(datadir, DataDir) else Path(datadir)
    res = await run_in_child(root, kind, Path(message_path), rcpt, max_bytes, limits, pg)
    log_result(res)
    return res
