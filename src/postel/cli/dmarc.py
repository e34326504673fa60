"""`postel dmarc`: parse DMARC aggregate reports (RFC 7489, RFC 9990)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from postel.cli.common import print_parsed
from postel.cli.options import config_option, load_or_exit
from postel.dmarcrpt.errors import DMARCReportError
from postel.dmarcrpt.parse import DEFAULT_LIMITS, parse_report


@click.group(name="dmarc")
def command() -> None:
    """DMARC aggregate reports."""


@command.command(name="parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@click.option("--strict", is_flag=True, help="Reject deviations instead of warning.")
def parse_cmd(file: Path, strict: bool) -> None:
    """Parse a report (.xml, .xml.gz, .zip or report e-mail) and print normalised JSON.

    FILE ``-`` is standard input."""
    print_parsed(
        file,
        lambda data: parse_report(data, strict=strict),
        DMARCReportError,
        DEFAULT_LIMITS.max_input_bytes,
    )


@command.command(name="list")
@config_option
@click.option("--domain", help="Only reports about this domain.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_cmd(config_dir: Path, domain: str | None, limit: int, as_json: bool) -> None:
    """Received DMARC aggregate reports (dmarcrpt.db), newest first."""
    from postel import dmarcdb

    cfg = load_or_exit(config_dir)
    db = dmarcdb.open(cfg.datadir.dmarcrpt_db)
    try:
        page = db.list_reports(domain=domain, limit=limit)
    finally:
        db.close()
    if as_json:
        rows = [
            {
                "id": r.id,
                "organization": r.organization,
                "report-id": r.report_id,
                "domain": r.domain,
                "begin": r.begin,
                "end": r.end,
                "messages": r.counts.messages,
                "dmarc-pass": r.counts.dmarc_pass,
                "dmarc-fail": r.counts.dmarc_fail,
            }
            for r in page.reports
        ]
        click.echo(json.dumps({"total": page.total, "reports": rows}, indent=2))
        return
    click.echo(f"{page.total} reports")
    for r in page.reports:
        day = dt.datetime.fromtimestamp(r.begin, dt.UTC).date().isoformat()
        click.echo(
            f"{r.id:>6}  {day}  {r.organization[:30]:30}  {r.domain[:30]:30}  "
            f"messages={r.counts.messages} pass={r.counts.dmarc_pass} fail={r.counts.dmarc_fail}"
        )
