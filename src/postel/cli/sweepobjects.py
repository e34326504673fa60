"""`postel sweep-objects`: delete now the objects of the PostgreSQL store's
object store that no body row names (as the nodes' periodic sweep does;
docs/postgresql.md, "Bodies in an object store")."""

from __future__ import annotations

from pathlib import Path

import click

from postel.cli.options import config_option, load_or_exit


@click.command(name="sweep-objects")
@config_option
@click.option(
    "--dry-run", is_flag=True, help="Delete nothing; list the objects the sweep would delete."
)
@click.option(
    "--pages",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Pages of the bucket's listing (1000 objects each) to look at; 0: all.",
)
def command(config_dir: Path, dry_run: bool, pages: int) -> None:
    """Delete the objects no body row names, older than [storage.object_store]
    sweep_grace and not being put by a delivery. Needs backend = "postgresql"
    and an object store; safe while nodes run (one node sweeps at a time)."""
    import asyncio

    from postel.pg.errors import PgError
    from postel.pg.objectsweep import sweep_now
    from postel.wiring import pg_objects, pg_settings

    cfg = load_or_exit(config_dir)
    storage = cfg.static.storage
    if storage.backend != "postgresql" or not storage.object_store.endpoint:
        raise click.ClickException(
            f"{cfg.dir / 'postel.toml'}: no [storage.object_store] endpoint with "
            'backend = "postgresql": there is no object store to sweep'
        )
    try:
        objects = pg_objects(storage, cfg.dir)
        assert objects is not None
        try:
            report = asyncio.run(
                sweep_now(
                    pg_settings(storage, cfg.dir),
                    objects,
                    grace=storage.object_store.sweep_grace,
                    pages=pages,
                    dry_run=dry_run,
                )
            )
        finally:
            objects.close()
    except PgError as exc:
        raise click.ClickException(str(exc)) from None
    if report is None:
        raise click.ClickException(
            f"{objects.where}: another node is sweeping it now; try again later"
        )
    verb = "would delete" if dry_run else "deleted"
    for digest in report.deleted:
        click.echo(f"{verb} {objects.key(digest)}")
    rest = "" if report.next_after is None else f"; more after {objects.key(report.next_after)}"
    click.echo(
        f"{objects.where}: {report.listed} objects listed, {len(report.deleted)} "
        f"{'to delete (dry run)' if dry_run else 'deleted'}, "
        f"{report.named} named by a body, {report.recent} recent{rest}"
    )
