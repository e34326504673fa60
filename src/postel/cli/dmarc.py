"""`postel dmarc`: parse DMARC aggregate reports (RFC 7489, RFC 9990)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from postel.cli.common import pg_errors_fail, print_parsed
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
    from postel.wiring import CLIRoot

    with pg_errors_fail(), CLIRoot.for_config(load_or_exit(config_dir)) as root:
        page = root.dmarcdb.list_reports(domain=domain, limit=limit)
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


# Outgoing aggregate reports (docs/dmarc-reports.md): `send` and the suppression list.


@command.command(name="send")
@config_option
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last UTC day to report (default: yesterday).",
)
@click.option("--dry-run", is_flag=True, help="Print the reports and recipients; send nothing.")
def send_cmd(config_dir: Path, day: dt.datetime | None, dry_run: bool) -> None:
    """Send the outgoing DMARC aggregate reports now (or print them with --dry-run) as JSON."""
    import asyncio

    from postel.cli.common import fail
    from postel.dmarcsend.service import QueueEnqueue, make_sender
    from postel.dns.resolver import DNSResolver
    from postel.queue import QueueSubmitter
    from postel.wiring import CLIRoot, on_postgresql

    cfg = load_or_exit(config_dir)
    if cfg.static.reports.no_outgoing_dmarc_reports and not dry_run:
        fail("outgoing DMARC reports are disabled (reports.no_outgoing_dmarc_reports)")
    path = cfg.datadir.dmarceval_db
    if not on_postgresql(cfg) and not path.exists():
        click.echo("[]")
        return
    resolver = DNSResolver(
        cfg.static.dns.nameservers or None, port=cfg.static.dns.port, timeout=cfg.static.dns.timeout
    )
    last = day.date() if day is not None else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)

    async def main(root: CLIRoot) -> list[dict[str, object]]:
        enqueue = None
        if not dry_run:
            # The running server's loop notices the new entries by polling.
            submitter = QueueSubmitter(cfg, root.queue_entries, root.accounts)
            enqueue = QueueEnqueue(submitter, cfg.datadir.tmp)
        sender = make_sender(cfg, root.evaldb, resolver, enqueue=enqueue)
        return [o.to_dict() for o in await sender.send_day(last, dry_run=dry_run)]

    with CLIRoot.for_config(cfg) as root:
        out = asyncio.run(main(root))
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


@command.group(name="suppress")
def suppress_group() -> None:
    """Reporting addresses that get no DMARC reports."""


def _address(address: str) -> str:
    from postel.cli.common import fail

    if address[:7].lower() == "mailto:":
        address = address[7:]
    if "@" not in address:
        fail(f"{address!r}: not an e-mail address")
    return address.lower()


@suppress_group.command(name="add")
@config_option
@click.argument("address")
@click.option("--days", type=click.IntRange(min=1), default=3650, show_default=True)
@click.option("--comment", default="", help="Why.")
def suppress_add_cmd(config_dir: Path, address: str, days: int, comment: str) -> None:
    """Send no DMARC reports to ADDRESS for --days days."""
    from postel.wiring import CLIRoot

    addr = _address(address)
    cfg = load_or_exit(config_dir)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    with CLIRoot.for_config(cfg) as root:
        root.evaldb.suppress(addr, until, comment, manual=True)
    click.echo(f"suppressed {addr} until {until.isoformat(timespec='seconds')}")


@suppress_group.command(name="list")
@config_option
def suppress_list_cmd(config_dir: Path) -> None:
    """List suppressed DMARC reporting addresses."""
    from postel.wiring import CLIRoot

    cfg = load_or_exit(config_dir)
    with CLIRoot.for_config(cfg) as root:
        rows = root.evaldb.suppressions()
    for a, until, comment, manual in rows:
        kind = "manual" if manual else "automatic"
        click.echo(f"{a}\tuntil {until.isoformat(timespec='seconds')}\t{kind}\t{comment}")


@suppress_group.command(name="remove")
@config_option
@click.argument("address")
def suppress_remove_cmd(config_dir: Path, address: str) -> None:
    """Send DMARC reports to ADDRESS again."""
    from postel.cli.common import fail
    from postel.wiring import CLIRoot

    addr = _address(address)
    cfg = load_or_exit(config_dir)
    with CLIRoot.for_config(cfg) as root:
        removed = root.evaldb.unsuppress(addr)
    if not removed:
        fail(f"{addr}: not on the suppression list")
    click.echo(f"removed {addr}")
