"""`postel dmarc`: parse DMARC aggregate reports (RFC 7489, RFC 9990)."""

from __future__ import annotations

from pathlib import Path

import click

from postel.dmarcrpt.errors import DMARCReportError
from postel.dmarcrpt.parse import DEFAULT_LIMITS, parse_report


@click.group(name="dmarc")
def command() -> None:
    """DMARC aggregate reports."""


@command.command(name="parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Reject deviations instead of warning.")
def parse_cmd(file: Path, strict: bool) -> None:
    """Parse a report (.xml, .xml.gz, .zip or report e-mail) and print normalised JSON."""
    limit = DEFAULT_LIMITS.max_input_bytes
    try:
        with file.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        click.echo(f"error: {file}: cannot read: {e.strerror or e}", err=True)
        raise SystemExit(1) from None
    if len(data) > limit:
        click.echo(f"error: {file}: larger than {limit} bytes", err=True)
        raise SystemExit(1)
    try:
        result = parse_report(data, strict=strict)
    except DMARCReportError as e:
        click.echo(f"error: {file}: {e}", err=True)
        raise SystemExit(1) from None
    for w in result.warnings:
        click.echo(f"warning: {file}: {w}", err=True)
    click.echo(result.report.to_json())
