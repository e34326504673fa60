"""`postel tlsrpt`: parse TLS reports, look up TLSRPT records, send outgoing reports
and manage their suppression list (RFC 8460)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from postel.cli.common import fail, pg_errors_fail, print_parsed
from postel.cli.options import config_option, load_or_exit
from postel.cli.resolveropts import choose_resolver, config_for_resolver
from postel.tlsrpt.errors import TLSRPTError
from postel.tlsrpt.parse import DEFAULT_LIMITS, parse_report

if TYPE_CHECKING:
    from postel.tlsrptresultdb.api import TLSResults


@click.group(name="tlsrpt")
def command() -> None:
    """SMTP TLS reports (RFC 8460)."""


@command.command(name="parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@click.option("--strict", is_flag=True, help="Reject deviations from RFC 8460 instead of warning.")
def parse_cmd(file: Path, strict: bool) -> None:
    """Parse a report (JSON, gzip or report e-mail) and print it as normalised JSON.

    FILE ``-`` is standard input."""
    print_parsed(
        file,
        lambda data: parse_report(data, strict=strict),
        TLSRPTError,
        DEFAULT_LIMITS.max_input_bytes,
    )


@command.command(name="lookup")
@click.argument("domain")
@config_for_resolver
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    help="Resolver IP (repeatable); default: [dns] of --config, else the system's.",
)
@click.option(
    "--port", type=int, default=None, help="Resolver port [default: [dns] of --config, or 53]."
)
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds.")
def lookup_cmd(
    domain: str,
    config_dir: Path | None,
    nameservers: tuple[str, ...],
    port: int | None,
    timeout: float,
) -> None:
    """Look up and print DOMAIN's TLSRPT record (_smtp._tls TXT)."""
    from postel.dns import DNSError
    from postel.dns.resolver import DNSResolver
    from postel.tlsrpt.lookup import lookup_record

    choice = choose_resolver(config_dir, nameservers, port)
    resolver = DNSResolver(choice.nameservers, port=choice.port, timeout=timeout)
    try:
        result = asyncio.run(lookup_record(resolver, domain))
    except TLSRPTError as e:
        fail(f"_smtp._tls.{domain}: {e}")
    except DNSError as e:
        fail(f"_smtp._tls.{domain}: DNS lookup failed: {e}")
    if result.record is None:
        fail(f"{result.name}: no TLSRPT record")
    out = {
        "name": result.name,
        "record": result.text,
        "rua": result.record.rua,
        "extensions": dict(result.record.extensions),
        "dnssec": result.authentic,
    }
    click.echo(json.dumps(out, indent=2))


# Outgoing reports (docs/tls-reporting.md): `send` and the suppression list.


@command.command(name="send")
@config_option
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="UTC day to report (default: every finished day with results).",
)
@click.option("--dry-run", is_flag=True, help="Print the reports and recipients; send nothing.")
def send_cmd(config_dir: Path, day: dt.datetime | None, dry_run: bool) -> None:
    """Send the outgoing TLS reports now (or print them with --dry-run) as JSON."""
    from postel.dns.resolver import DNSResolver
    from postel.queue import QueueSubmitter
    from postel.tlsrptsend.service import QueueEnqueue, make_sender
    from postel.wiring import CLIRoot, on_postgresql

    cfg = load_or_exit(config_dir)
    if cfg.static.reports.no_outgoing_tls_reports and not dry_run:
        fail("outgoing TLS reports are disabled (reports.no_outgoing_tls_reports)")
    path = cfg.datadir.tlsrptresult_db
    if not on_postgresql(cfg) and not path.exists():
        click.echo("[]")
        return
    resolver = DNSResolver(
        cfg.static.dns.nameservers or None, port=cfg.static.dns.port, timeout=cfg.static.dns.timeout
    )

    async def main(root: CLIRoot) -> list[dict[str, Any]]:
        db = root.resultdb
        enqueue = None
        if not dry_run:
            # The running server's loop notices the new entries by polling.
            submitter = QueueSubmitter(cfg, root.queue_entries, root.accounts)
            enqueue = QueueEnqueue(submitter, cfg.datadir.tmp)
        # A whole run takes the day's turn as the nodes' daily loops do.
        sender = make_sender(cfg, db, resolver, enqueue=enqueue, spread=False, runs=root.daily_runs)
        if day is not None:
            outcomes = await sender.send_day(day.date(), dry_run=dry_run)
        elif dry_run:
            today = dt.datetime.now(dt.UTC).date()
            outcomes = []
            for d in db.days():
                if d < today:
                    outcomes.extend(await sender.send_day(d, dry_run=True))
        else:
            outcomes = await sender.run()
        return [o.to_dict() for o in outcomes]

    with CLIRoot.for_config(cfg) as root:
        click.echo(json.dumps(asyncio.run(main(root)), indent=2))


@command.group(name="suppress")
def suppress_group() -> None:
    """Reporting addresses that get no TLS reports (mailto address or https URI)."""


def _norm_address(address: str) -> str:
    if address[:7].lower() == "mailto:":
        address = address[7:]
    if not address or (address[:6].lower() != "https:" and "@" not in address):
        fail(f"{address!r}: not an e-mail address or https URI")
    return address.lower()  # the suppression list compares case-insensitively


@contextmanager
def _open_resultdb(config_dir: Path) -> Iterator[TLSResults]:
    """The outgoing results through the CLI root (closed at exit)."""
    from postel.wiring import CLIRoot

    with CLIRoot.for_config(load_or_exit(config_dir)) as root:
        yield root.resultdb


@suppress_group.command(name="add")
@config_option
@click.argument("address")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=3650,
    show_default=True,
    help="How long the suppression lasts.",
)
@click.option("--comment", default="", help="Why.")
def suppress_add_cmd(config_dir: Path, address: str, days: int, comment: str) -> None:
    """Send no reports to ADDRESS for --days days."""
    addr = _norm_address(address)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    with _open_resultdb(config_dir) as db:
        db.suppress(addr, until, comment, manual=True)
    click.echo(f"suppressed {addr} until {until.isoformat(timespec='seconds')}")


@suppress_group.command(name="list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def suppress_list_cmd(config_dir: Path, as_json: bool) -> None:
    """List suppressed reporting addresses."""
    with _open_resultdb(config_dir) as db:
        rows = db.suppressions()
    items = [
        {"address": a, "until": u.isoformat(timespec="seconds"), "comment": c, "manual": m}
        for a, u, c, m in rows
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for it in items:
        kind = "manual" if it["manual"] else "automatic"
        click.echo(f"{it['address']}\tuntil {it['until']}\t{kind}\t{it['comment']}")


@suppress_group.command(name="remove")
@config_option
@click.argument("address")
def suppress_remove_cmd(config_dir: Path, address: str) -> None:
    """Send reports to ADDRESS again."""
    addr = _norm_address(address)
    with _open_resultdb(config_dir) as db:
        removed = db.unsuppress(addr)
    if not removed:
        fail(f"{addr}: not on the suppression list")
    click.echo(f"removed {addr}")


@command.command(name="list")
@config_option
@click.option("--domain", help="Only reports about this policy domain.")
@click.option("--host", "host_only", is_flag=True, help="Only reports about this MX host.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_cmd(
    config_dir: Path, domain: str | None, host_only: bool, limit: int, as_json: bool
) -> None:
    """Received TLS reports (tlsrpt.db), newest first."""
    from postel.wiring import CLIRoot

    with pg_errors_fail(), CLIRoot.for_config(load_or_exit(config_dir)) as root:
        db = root.tlsrptdb
        page = db.list_reports(domain=domain, kind="host" if host_only else None, limit=limit)
    if as_json:
        rows = [
            {
                "id": r.id,
                "organization": r.organization,
                "report-id": r.report_id,
                "kind": r.kind,
                "start": r.start,
                "end": r.end,
                "policy-domains": r.policy_domains,
                "successes": r.successes,
                "failures": r.failures,
            }
            for r in page.reports
        ]
        click.echo(json.dumps({"total": page.total, "reports": rows}, indent=2))
        return
    click.echo(f"{page.total} reports")
    for r in page.reports:
        click.echo(
            f"{r.id:>6}  {r.start[:10]}  {r.kind:6}  {r.organization[:30]:30}  "
            f"{','.join(r.policy_domains)[:40]:40}  ok={r.successes} failed={r.failures}"
        )


@command.command(name="show")
@config_option
@click.argument("report_id", type=int)
def show_cmd(config_dir: Path, report_id: int) -> None:
    """Print one received TLS report as normalised JSON."""
    from postel.wiring import CLIRoot

    with pg_errors_fail(), CLIRoot.for_config(load_or_exit(config_dir)) as root:
        db = root.tlsrptdb
        report = db.get(report_id)
    if report is None:
        fail(f"no report with id {report_id}")
    click.echo(json.dumps(report.report_dict(), indent=2, ensure_ascii=False))
