"""`postel serve`: run the mail server."""

from __future__ import annotations

from pathlib import Path

import click

from postel.cli.options import config_option, load_or_exit


@click.command(name="serve")
@config_option
def command(config_dir: Path) -> None:
    """Run all configured listeners until stopped (SIGINT/SIGTERM).

    Started as root, binds its ports and then runs as [server] user."""
    from postel import log
    from postel.cli.startup import run_or_exit
    from postel.config.load import STATIC_FILE
    from postel.preflight import listen_all, preflight
    from postel.preflight.check import check_owner
    from postel.privdrop import (
        check_config_trusted,
        drop_privileges,
        lookup_user,
        running_as_root,
        warn_staying_root,
    )
    from postel.server import run
    from postel.smtpworkers import worker_count

    cfg = load_or_exit(config_dir)
    log.configure(cfg.static.log.level, cfg.static.log.packages, with_time=True)
    workers = worker_count(cfg.static.limits.smtp_workers)

    async def main() -> None:
        check_owner(cfg)  # a second server on this data directory: before any port is bound
        if not running_as_root() or not cfg.static.server.user:
            preflight(cfg)  # the operator's mistakes as one line, before anything starts
            if running_as_root():
                warn_staying_root()
            await run(cfg, smtp_workers=workers)
            return
        # Least privilege: bind as root, then switch user before the data
        # directory, the certificates or the network are touched; and never
        # from a postel.toml that user could have replaced.
        check_config_trusted(cfg.dir / STATIC_FILE)
        where = f"[server] user in {cfg.dir / STATIC_FILE}"
        user = lookup_user(cfg.static.server.user, where)
        sockets = listen_all(cfg)
        try:
            drop_privileges(user)
            preflight(cfg, ports=False)  # files as the user will read them
            await run(cfg, smtp_workers=workers, sockets=sockets)
        finally:
            for sock in sockets.values():
                sock.close()

    run_or_exit(main)
