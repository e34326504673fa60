"""`postel quickstart`: configuration, keys, account and DNS records in one go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
@click.option(
    "--user",
    default="postel",
    show_default=True,
    help="Unprivileged user that `postel serve` started as root runs as; as root, "
    "quickstart gives it the data directory and the configuration.",
)
def command(
    address: str, hostname: str | None, base: Path, ips: tuple[str, ...], user: str
) -> None:
    """Set up postel for ADDRESS: config files, keys, account, DNS records to create."""
    from postel.config import ConfigError, load_config
    from postel.dnsrecords import domain_records, host_records, zone_text
    from postel.quickstart import QuickstartError, quickstart

    try:
        result = quickstart(base / "config", address, hostname, list(ips) or None, user=user)
    except (QuickstartError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except ConfigError as exc:
        raise click.ClickException(f"generated configuration does not load:\n{exc}") from None
    cfg = load_config(result.config_dir)
    ownership = _hand_over(cfg)
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
The certificate in {cfg.path("certs/host.crt")} is self-signed; replace it with
one from a public CA for the same key (keeping the key keeps the TLSA record valid),
with names {cfg.static.hostname} and mta-sts.{domain}.

{ownership}Check the configuration:  postel config test --config {result.config_dir}
Start the server:         postel serve --config {result.config_dir}
"""
    )


def _hand_over(cfg: Any) -> str:
    """As root: give the data directory and the configuration (but postel.toml,
    which says which user to switch to) to [server] user, which `postel serve`
    runs as after binding its ports. What was done, for the output."""
    from postel.config.load import STATIC_FILE
    from postel.privdrop import (
        PrivDropError,
        hand_over,
        hand_over_config,
        lookup_user,
        running_as_root,
    )

    if not running_as_root():
        return ""
    name = cfg.static.server.user
    try:
        user = lookup_user(name, f"[server] user in {cfg.dir / STATIC_FILE}")
    except PrivDropError as exc:
        return (
            f"Not handed over to a user: {exc}; then run\n"
            f"  chown -R {name}: {cfg.datadir.root.resolve()} && chown -R {name}: {cfg.dir} "
            f"&& chown root: {cfg.dir / STATIC_FILE} && chown root:{name} {cfg.dir} "
            f"&& chmod 1770 {cfg.dir}\n\n"
        )
    data = cfg.datadir.root.resolve()
    hand_over_config(cfg.dir, user, STATIC_FILE)
    if not data.is_relative_to(cfg.dir.resolve()):
        hand_over(data, user)
    return (
        f"{data} and {cfg.dir} (but {STATIC_FILE}) now belong to user {name}:\n"
        f"{cfg.dir} itself stays root's (mode 1770), so {name} cannot replace {STATIC_FILE}.\n"
        "postel serve, started as root, binds its ports and then runs as that user.\n\n"
    )
