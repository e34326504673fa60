"""`postel serve`: run the mail server."""

from __future__ import annotations

from pathlib import Path

import click

from postel.cli.options import config_option, load_or_exit


@click.command(name="serve")
@config_option
def command(config_dir: Path) -> None:
    """Run all configured listeners until stopped (SIGINT/SIGTERM)."""
    from postel import log
    from postel.cli.startup import run_or_exit
    from postel.preflight import preflight
    from postel.server import run
    from postel.smtpworkers import worker_count

    cfg = load_or_exit(config_dir)
    log.configure(cfg.static.log.level, cfg.static.log.packages, with_time=True)

    async def main() -> None:
        preflight(cfg)  # the operator's mistakes as one line, before anything starts
        await run(cfg, smtp_workers=worker_count(cfg.static.limits.smtp_workers))

    run_or_exit(main)
