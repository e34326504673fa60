"""`postel quickstart`: configuration, keys, account and DNS records in one go."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from postel.acme.names import certificate_names
from postel.config.model import LETSENCRYPT_DIRECTORY, LETSENCRYPT_STAGING_DIRECTORY

if TYPE_CHECKING:
    from postel.config import Config


def certificate_note(cfg: Config, domain: str) -> str:
    names = ", ".join(certificate_names(cfg.static.hostname, [domain]))
    if cfg.static.acme.enabled:
        return (
            f"Certificates for {names} come from {cfg.static.acme.directory_url}\n"
            "once postel runs and the DNS records above point here (port 443 must be\n"
            "reachable for the tls-alpn-01 challenge); renewals keep the same keys."
        )
    return (
        f"The certificate in {cfg.path('certs/host.crt')} is self-signed; replace it with\n"
        "one from a public CA for the same key (keeping the key keeps the TLSA record valid),\n"
        f"with names {names}; postel uses a replaced file within seconds.\n"
        "Or let postel get them: [acme] in postel.toml (postel config describe)."
    )


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
@click.option(
    "--acme",
    is_flag=True,
    help="Get certificates from an ACME CA (Let's Encrypt unless --acme-directory).",
)
@click.option(
    "--acme-directory",
    metavar="URL",
    help=f"ACME directory URL (implies --acme); staging: {LETSENCRYPT_STAGING_DIRECTORY}",
)
def command(
    address: str,
    hostname: str | None,
    base: Path,
    ips: tuple[str, ...],
    user: str,
    acme: bool,
    acme_directory: str | None,
) -> None:
    """Set up postel for ADDRESS: config files, keys, account, DNS records to create."""
    from postel.config import ConfigError, load_config
    from postel.dnsrecords import domain_records, host_records, zone_text
    from postel.quickstart import QuickstartError, quickstart

    try:
        if acme and acme_directory is None:
            acme_directory = LETSENCRYPT_DIRECTORY
        result = quickstart(
            base / "config",
            address,
            hostname,
            list(ips) or None,
            user=user,
            acme_directory=acme_directory,
        )
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
{certificate_note(cfg, domain)}

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
