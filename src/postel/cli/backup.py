"""`postel backup DESTDIR`: a consistent backup of a running instance (docs/data-safety.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from postel.cli.options import config_option, load_or_exit


@click.command(name="backup")
@click.argument("destdir", type=click.Path(path_type=Path, file_okay=False))
@config_option
def command(destdir: Path, config_dir: Path) -> None:
    """Back up the config dir to DESTDIR/config and the data dir to DESTDIR/data.

    With [storage] backend = "postgresql" only the node-local files: back up the
    database with pg_dump or base backups (docs/postgresql.md).

    Works while `postel serve` runs: databases are copied as consistent
    snapshots, message files hard-linked. DESTDIR must not exist. Ends with a
    one-line summary; exits 1 on any error.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from postel.backup import BackupError, backup

    cfg = load_or_exit(config_dir)
    if cfg.static.storage.backend == "postgresql":
        click.echo(
            f'note: [storage] backend is "postgresql": this backs up the node-local files '
            f"(config and {cfg.datadir.root}), not the database; back that up with pg_dump "
            "or base backups with WAL archiving (docs/postgresql.md, Backups)",
            err=True,
        )
    console = Console(stderr=True)
    bar: Progress | None = None
    task = None
    if console.is_terminal:
        bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        task = bar.add_task("backup", total=0)
        bar.start()

    def progress(advance: int, more: int, what: str) -> None:
        if bar is not None and task is not None:
            total = bar.tasks[0].total or 0
            bar.update(task, advance=advance, total=total + more, description=what[:40])

    def warn(text: str) -> None:
        if bar is not None:
            bar.console.print(text, markup=False, highlight=False)
        else:
            click.echo(text if text.startswith("error:") else f"warning: {text}", err=True)

    try:
        summary = backup(config_dir, cfg.datadir.root, destdir, warn=warn, progress=progress)
    except BackupError as exc:
        if bar is not None:
            bar.stop()
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.stop()
    data_rel = cfg.static.data_dir
    if (destdir / "config" / data_rel).resolve() != (destdir / "data").resolve():
        click.echo(
            f"note: the config's data_dir is {data_rel!r}; in the backup the data is in "
            f"{destdir / 'data'} (move it there or set data_dir when restoring)",
            err=True,
        )
    click.echo(summary.line())
    sys.exit(0 if summary.ok else 1)
