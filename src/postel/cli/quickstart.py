"""`postel quickstart`: configuration, keys, account and DNS records in one go."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="quickstart")
@click.argument("address")
@click.option("--hostname", help="Host name of this mail server (default: mail.<domain>).")
@click.option(
    "--dir",
    "base",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    help="Where to create config/ and data/.",
)
@click.option("--ip", "ips", multiple=True, help="Public IP to listen on (repeatable).")
def command(address: str, hostname: str | None, base: Path, ips: tuple[str, ...]) -> None:
    """Set up postel for ADDRESS: config files, keys, account, DNS records to create."""
    from postel.config import ConfigError, load_config
    from postel.dnsrecords import domain_records, host_records, zone_text
    from postel.quickstart import QuickstartError, quickstart

    try:
        result = quickstart(base / "config", address, hostname, list(ips) or None)
    except (QuickstartError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except ConfigError as exc:
        raise click.ClickException(f"generated configuration does not load:\n{exc}") from None
    cfg = load_config(result.config_dir)
    domain = result.address.rpartition("@")[2]
    records = host_records(cfg) + domain_records(cfg, domain)
    click.echo(
        f"""postel is configured in {result.config_dir}.

Account {result.account!r} for {result.address}
  password: {result.password}
Admin password (web admin on http://127.0.0.1:8080/admin/):
  {result.admin_password}
Write both down now: they are stored only as hashes.

Create these DNS records (zone-file syntax; sign the zone with DNSSEC so
that the TLSA record protects delivery to you with DANE):

{zone_text(records)}
Also: set the reverse DNS (PTR) of your IPs to {cfg.static.hostname}.
The certificate in {cfg.path('certs/host.crt')} is self-signed; replace it with
one from a public CA for the same key (keeping the key keeps the TLSA record valid),
with names {cfg.static.hostname} and mta-sts.{domain}.

Check the configuration:  postel config test --config {result.config_dir}
Start the server:         postel serve --config {result.config_dir}
"""
    )
