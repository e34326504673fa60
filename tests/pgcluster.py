"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary
directory, listening on 127.0.0.1 only (its Unix socket inside that directory),
a test role with a password (scram-sha-256 over TCP), one database per test.

initdb refuses to run as root: run as root (CI), the cluster belongs to an
unprivileged user (Debian's "postgres", else "nobody") and its programs run
under runuser; run as a normal user, they run as that user. The cluster is
stopped when the session ends, also after failures (a finalizer); a cluster
left by a test process killed before its finalizer ran is stopped by the next
session (reap_orphans).

Use the fixtures ``pg_cluster`` (session) and ``pg_dsn`` (a fresh database per
test), imported by a conftest.py (``from pgcluster import ...``: tests/ is on
sys.path). Tests that need PostgreSQL fail when PostgreSQL 15 is not
installed (scripts/install-system-deps installs it, .ci/apt-packages.txt).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

PG_BIN = Path(os.environ.get("POSTEL_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROLE = "postel_test"
TEMPLATE = "postel_template"
START_TIMEOUT = 60  # seconds for pg_ctl start/stop on a loaded machine


@dataclass(frozen=True)
class Cluster:
    """A running cluster: *port* on 127.0.0.1, *password* of ROLE."""

    root: Path
    port: int
    password: str
    password_file: Path  # holds *password*, readable by the test process
    durable: bool = False

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the postmaster (pg_ctl stop -m *mode*: "fast" or "immediate"),
        as an operator or a crash would; :meth:`start_server` starts it again."""
        _stop(self.root, _owner(), mode)

    def start_server(self) -> None:
        """Start the stopped postmaster again on the same port."""
        _pg_ctl_start(self.root, _owner(), self.durable, self.port)

    def dsn(self, dbname: str, *, with_password: bool = True) -> str:
        pw = f" password={self.password}" if with_password else ""
        return f"host=127.0.0.1 port={self.port} user={ROLE} dbname={dbname}{pw}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection over the Unix socket (trust, local only)."""
        return psycopg.connect(
            host=str(self.root / "sock"),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        )

    def server_cpu(self) -> float:
        """CPU seconds (user + system) of the postmaster and its children
        (backends, WAL writer, ...), read from /proc (for bench/)."""
        postmaster = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = (Path("/proc") / entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == postmaster or int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _owner() -> pwd.struct_passwd | None:
    """The user the cluster runs as when we are root, else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists")


def _run(owner: pwd.struct_passwd | None, args: list[str], timeout: float) -> None:
    cmd = args if owner is None else ["runuser", "-u", owner.pw_name, "--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        what = " ".join(args[:2])
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _pg_ctl_start(root: Path, owner: pwd.struct_passwd | None, durable: bool, port: int) -> None:
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {port} "
        f"-c unix_socket_directories={root / 'sock'} -c max_connections=200"
    )
    if not durable:  # tests: speed over durability (nothing here outlives the run)
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    _run(
        owner,
        [
            str(PG_BIN / "pg_ctl"),
            "start",
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-D",
            str(root / "data"),
            "-l",
            str(root / "postgres.log"),
            "-o",
            opts,
        ],
        START_TIMEOUT + 10,
    )


def _start(root: Path, owner: pwd.struct_passwd | None, durable: bool) -> int:
    """Start the postmaster on a free port (retried: another process may take
    the port between the probe and the start)."""
    for _ in range(5):
        port = _free_port()
        try:
            _pg_ctl_start(root, owner, durable, port)
        except RuntimeError:
            log = (root / "postgres.log").read_text(errors="replace")
            if "could not bind" in log or "Address already in use" in log:
                continue
            raise
        return port
    raise RuntimeError(f"{root}: no free port for PostgreSQL after 5 tries")


def _stop(root: Path, owner: pwd.struct_passwd | None, mode: str = "fast") -> None:
    _run(
        owner,
        [str(PG_BIN / "pg_ctl"), "stop", "-m", mode, "-w", "-D", str(root / "data")],
        START_TIMEOUT + 10,
    )


def _owner_alive(root: Path) -> bool:
    try:
        pid = int((root / "owner.pid").read_text())
    except (OSError, ValueError):
        return True  # not ours to judge (being set up, or not made by this module)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(owner: pwd.struct_passwd | None) -> None:
    """Stop and remove clusters of earlier test runs that were killed before
    their finalizer ran (their owner.pid names a process that is gone)."""
    for root in Path(tempfile.gettempdir()).glob("postel-pg-*"):
        if _owner_alive(root):
            continue
        if (root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _run(
                    owner,
                    [
                        str(PG_BIN / "pg_ctl"),
                        "stop",
                        "-m",
                        "immediate",
                        "-w",
                        "-D",
                        str(root / "data"),
                    ],
                    START_TIMEOUT + 10,
                )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """initdb, start, create the test role and template; stop and remove at the end.
    *durable*: PostgreSQL's default fsync and commit settings (for benchmarks)."""
    owner = _owner()
    reap_orphans(owner)
    root = Path(tempfile.mkdtemp(prefix="postel-pg-"))
    started = False
    try:
        (root / "owner.pid").write_text(str(os.getpid()))
        (root / "sock").mkdir()
        password = secrets.token_urlsafe(18)
        password_file = root / "password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        if owner is not None:
            for path in (root, root / "sock"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _run(
            owner,
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",  # the socket is in a 0700 directory
                "--auth-host=scram-sha-256",
            ],
            120,
        )
        port = _start(root, owner, durable)
        started = True
        cluster = Cluster(root, port, password, password_file, durable)
        with cluster.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(TEMPLATE), sql.Identifier(ROLE)
                )
            )
        yield cluster
    finally:
        try:
            if started:
                _stop(root, owner)
        finally:
            shutil.rmtree(root, ignore_errors=True)


_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(
            f"{PG_BIN}/initdb: PostgreSQL 15 is not installed (scripts/install-system-deps)"
        )
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_database(pg_cluster: Cluster) -> Iterator[str]:
    """The name of a new, empty database owned by the test role."""
    name = f"t{os.getpid()}_{next(_counter)}"
    with pg_cluster.admin() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(ROLE), sql.Identifier(TEMPLATE)
            )
        )
    yield name
    with pg_cluster.admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_dsn(pg_cluster: Cluster, pg_database: str) -> str:
    """A libpq DSN (password included) for a fresh database of its own."""
    return pg_cluster.dsn(pg_database)
