"""`postel localserve`: a local instance on loopback for trying postel."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="localserve")
@click.option(
    "--dir",
    "base",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("local"),
    show_default=True,
    help="Directory for the local instance's config/ and data/.",
)
@click.option(
    "--ip",
    default=None,
    help="Loopback address to listen on [default: 127.0.0.1]. Written into the config "
    "on the first run; later runs use the configured address.",
)
def command(base: Path, ip: str | None) -> None:
    """Run a ready instance on loopback (account you@postel.localhost)."""
    import ipaddress

    from postel import log
    from postel.cli.startup import run_or_exit
    from postel.config import ConfigError, load_config
    from postel.localserve import ensure_local_config, instructions
    from postel.preflight import preflight
    from postel.server import Running, run

    if ip is not None:
        try:
            loopback = ipaddress.ip_address(ip).is_loopback
        except ValueError:
            raise click.ClickException(f"--ip {ip!r}: not an IP address") from None
        if not loopback:
            raise click.ClickException(f"--ip {ip}: not a loopback address")
    info = ensure_local_config(base, ip or "127.0.0.1")
    try:
        cfg = load_config(info.config_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    listener = cfg.static.listeners.get("local")
    configured = list(listener.ips) if listener is not None else []
    if ip is not None and configured and ip not in configured:
        # The existing instance keeps its address; say so instead of ignoring --ip.
        raise click.ClickException(
            f"--ip {ip}: the instance in {base} listens on {', '.join(configured)} "
            f"(listeners.local.ips in {info.config_dir / 'postel.toml'}); "
            "edit that file or use another --dir"
        )
    if not cfg.static.metrics.enabled:
        from postel.config.model import MetricsConfig

        # /metrics and /healthz on a free port of the loopback address (printed below).
        ip_metrics = configured[0] if configured else info.ip
        cfg.static.metrics = MetricsConfig(enabled=True, ip=ip_metrics, port=0)
    log.configure(cfg.static.log.level, cfg.static.log.packages)

    def ready(running: Running) -> None:
        click.echo(instructions(running.bound))

    async def main() -> None:
        preflight(cfg)
        await run(cfg, ready=ready, check_dns=False)

    def in_use(message: str) -> str:
        # Typically another localserve (or mail server) on the same ports.
        return (
            f"{message.split('; ')[0]}; stop that program, or start localserve with another "
            "loopback address (--ip 127.0.0.2 and a new --dir)"
        )

    run_or_exit(main, in_use_hint=in_use)
    click.echo("postel localserve stopped.")
