"""`postel sweep-objects`: remove now the PostgreSQL store's body rows no
message names, then delete the objects of its object store that no body row
names (as the nodes' periodic sweeps do; docs/postgresql.md, "Bodies in an
object store")."""

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
    """Remove the body rows no message names, older than [storage]
    body_sweep_grace; then delete the objects no body row names, older than
    [storage.object_store] sweep_grace and not being put by a delivery.
    Needs backend = "postgresql" (objects: and an object store); safe while
    nodes run (one node sweeps at a time)."""
    import asyncio

    from postel.pg.bodysweep import sweep_bodies_now
    from postel.pg.errors import PgError
    from postel.pg.objectsweep import sweep_now
    from postel.wiring import pg_objects, pg_settings

    cfg = load_or_exit(config_dir)
    storage = cfg.static.storage
    if storage.backend != "postgresql":
        raise click.ClickException(
            f'{cfg.dir / "postel.toml"}: [storage] backend is not "postgresql": '
            "there are no body rows or objects to sweep"
        )
    try:
        settings = pg_settings(storage, cfg.dir)
        rows = asyncio.run(
            sweep_bodies_now(settings, grace=storage.body_sweep_grace, dry_run=dry_run)
        )
    except PgError as exc:
        raise click.ClickException(str(exc)) from None
    if rows is None:
        raise click.ClickException(
            f"{settings.where}: another node is sweeping its body rows now; try again later"
        )
    click.echo(
        f"{settings.where}: {rows.looked} body rows looked at, {len(rows.removed)} no "
        f"message names {'to remove (dry run)' if dry_run else 'removed'}"
    )
    if not storage.object_store.endpoint:
        click.echo(f"{cfg.dir / 'postel.toml'}: no [storage.object_store] endpoint: no objects")
        return
    try:
        objects = pg_objects(storage, cfg.dir)
        assert objects is not None
        try:
            report = asyncio.run(
                sweep_now(
                    settings,
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
