"""Least privilege: `postel serve` started as root binds its
ports, below 1024 included, then runs as [server] user, its SMTP workers too;
quickstart as root hands the data directory to that user.

Runs as root (the test machine does) with a user made for the test and
removed after it. The interpreter is Debian's /usr/bin/python3 (3.11, the
venv's ABI) with the venv's site-packages: the user cannot enter /root,
where the venv's own interpreter lives.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from procs import of_kind
from storagebackend import POSTGRESQL, Backend

import postel
from pgcluster import Cluster

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root"),
]

SRC = str(Path(postel.__file__).resolve().parents[1])
SITE = next(p for p in sys.path if p.endswith("site-packages") and "/root/" not in p)
PYTHON = "/usr/bin/python3"

POSTEL_TOML = """\
hostname = "mail.example.test"
postmaster_account = "pm"

[server]
user = "{user}"

[dns]
nameservers = ["127.0.0.1"]
port = {dns_port}
timeout = 0.5

[listeners.main]
ips = ["127.0.0.1"]
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ port = {smtp} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
web = {{ enabled = true, port = {web}, tls = false, admin = true }}

[limits]
smtp_workers = {workers}
"""

DOMAINS_TOML = """\
[domains."example.test"]

[accounts.pm]
domain = "example.test"
addresses = ["postmaster@example.test"]
"""


def free_port(low: int = 0, high: int = 0) -> int:
    """A free port on 127.0.0.1; in [low, high) when given (privileged ports)."""
    for port in range(low, high) if high else [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in {low}..{high}")


@pytest.fixture(scope="module")
def user() -> Iterator[pwd.struct_passwd]:
    name = f"postel-t{os.getpid() % 100000}"
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        check=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=True)


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory the test user can enter (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="postel-privdrop-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def uids(pid: int) -> tuple[list[int], list[int]]:
    """(real, effective, saved, fs uids), (gids) of *pid* from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return [int(x) for x in fields["Uid"].split()], [int(x) for x in fields["Gid"].split()]


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.extend(int(p) for p in (task / "children").read_text().split())
    return out


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, SITE])}


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_binds_as_root_then_runs_as_the_user(
    base: Path, user: pwd.struct_passwd, workers: int, storage_backend: Backend
) -> None:
    from postel.privdrop import hand_over_config, lookup_user

    config = base / "config"
    (config / "certs").mkdir(parents=True)
    leaf = trustme.CA().issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    smtp, web = free_port(900, 1000), free_port(1000, 1024)  # only root may bind these
    (config / "postel.toml").write_text(
        POSTEL_TOML.format(
            user=user.pw_name, dns_port=free_port(), smtp=smtp, web=web, workers=workers
        )
    )
    (config / "domains.toml").write_text(DOMAINS_TOML)
    (config / "data").mkdir()
    # On PostgreSQL: the [storage] section and its password file (mode 600),
    # handed to the user with the rest of the configuration.
    storage_backend.configure(config)
    hand_over_config(config, lookup_user(user.pw_name, "test"), "postel.toml")

    log = base / "postel.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "postel", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env(),
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", smtp), 1) as s:
                    assert s.recv(512).startswith(b"220")
                    s.sendall(b"EHLO client.example\r\n")
                    assert s.recv(512).startswith(b"250")
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", web), 5) as s:
            s.sendall(b"GET /admin/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert s.recv(512).startswith(b"HTTP/1.1 ")
        want = [user.pw_uid] * 4, [user.pw_gid] * 4
        assert uids(proc.pid) == want
        smtp_workers = of_kind(children(proc.pid), "smtp")
        assert len(smtp_workers) == (workers if workers >= 2 else 0)
        for pid in children(proc.pid):  # the delivery workers too
            assert uids(pid) == want
        # What it wrote, it wrote as the user.
        assert (config / "data" / "postel.version").stat().st_uid == user.pw_uid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert f'm="running as user" pkg=privdrop user={user.pw_name}' in text
    assert "l=error" not in text and "Traceback" not in text, text


def test_serve_as_root_needs_the_user(base: Path) -> None:
    config = base / "config"
    (config / "certs").mkdir(parents=True)
    leaf = trustme.CA().issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    (config / "postel.toml").write_text(
        POSTEL_TOML.format(
            user="postel-nosuchuser",
            dns_port=free_port(),
            smtp=free_port(),
            web=free_port(),
            workers=1,
        )
    )
    (config / "domains.toml").write_text(DOMAINS_TOML)
    done = subprocess.run(
        [PYTHON, "-m", "postel", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"error: user 'postel-nosuchuser' ([server] user in {config / 'postel.toml'}) does not "
        "exist; create it (useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "
        "postel-nosuchuser) or name another\n"
    )
    assert not (config / "data").exists()  # nothing touched as root


def test_quickstart_as_root_hands_the_data_directory_to_the_user(
    base: Path, user: pwd.struct_passwd
) -> None:
    from click.testing import CliRunner

    from postel.cli.main import cli

    argv = ["quickstart", "you@example.test", "--dir", str(base), "--user", user.pw_name]
    done = CliRunner().invoke(cli, argv)
    assert done.exit_code == 0, done.output
    config, data = base / "config", base / "data"
    assert f"{data} and {config} (but postel.toml) now belong to user {user.pw_name}" in done.output
    assert f'user = "{user.pw_name}"' in (config / "postel.toml").read_text()
    assert (config / "postel.toml").stat().st_uid == 0
    st = config.stat()  # root's, the user's group, sticky: postel.toml cannot be replaced
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, user.pw_gid, 0o1770)
    for path in [data, *data.rglob("*"), config / "domains.toml", config / "certs" / "host.key"]:
        assert (path.stat().st_uid, path.stat().st_gid) == (user.pw_uid, user.pw_gid), path


def test_quickstart_as_root_without_the_user_says_what_to_run(base: Path) -> None:
    from click.testing import CliRunner

    from postel.cli.main import cli

    argv = ["quickstart", "you@example.test", "--dir", str(base), "--user", "postel-nosuchuser"]
    done = CliRunner().invoke(cli, argv)
    assert done.exit_code == 0, done.output
    assert "Not handed over to a user: user 'postel-nosuchuser'" in done.output
    assert f"chown -R postel-nosuchuser: {base / 'data'}" in done.output


def test_serve_as_root_refuses_a_config_the_user_could_replace(
    base: Path, user: pwd.struct_passwd
) -> None:
    """The user postel switches to must not be able to replace postel.toml (say,
    with user = ""), or the next start as root would honour it."""
    from postel.privdrop import hand_over, lookup_user

    config = base / "config"
    (config / "certs").mkdir(parents=True)
    leaf = trustme.CA().issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    (config / "postel.toml").write_text(
        POSTEL_TOML.format(
            user=user.pw_name, dns_port=free_port(), smtp=free_port(), web=free_port(), workers=1
        )
    )
    (config / "domains.toml").write_text(DOMAINS_TOML)
    hand_over(config, lookup_user(user.pw_name, "test"), keep=frozenset({"postel.toml"}))
    done = subprocess.run(
        [PYTHON, "-m", "postel", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env(),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {config} is not owned by root, so the user postel switches to could replace "
        f"postel.toml; run: chown root {config} && chmod 1770 {config}"
    ]
    assert not (config / "data").exists()  # refused before anything was made


def test_serve_as_root_needs_a_password_file_the_user_can_read(
    base: Path, user: pwd.struct_passwd, pg_cluster: Cluster, pg_database: str
) -> None:
    """The PostgreSQL password file is read by the user postel switches to (the
    server after the switch, its SMTP workers and report intake children read
    it themselves): one that user cannot read stops the start, before the data
    directory is made, with one line saying what to run."""
    from postel.privdrop import hand_over_config, lookup_user

    config = base / "config"
    (config / "certs").mkdir(parents=True)
    leaf = trustme.CA().issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    (config / "postel.toml").write_text(
        POSTEL_TOML.format(
            user=user.pw_name, dns_port=free_port(), smtp=free_port(), web=free_port(), workers=1
        )
    )
    (config / "domains.toml").write_text(DOMAINS_TOML)
    Backend(POSTGRESQL, pg_cluster, pg_database).configure(config)
    hand_over_config(config, lookup_user(user.pw_name, "test"), "postel.toml")
    secret = config / "pgpassword"
    os.chown(secret, 0, 0)  # left root's, mode 600
    shutil.rmtree(config / "data", ignore_errors=True)
    done = subprocess.run(
        [PYTHON, "-m", "postel", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env(),
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    # Checked as the user, after the switch (logged on the line before).
    assert 'm="running as user"' in lines[0] and "Traceback" not in done.stderr
    assert lines[1:] == [
        f"error: [storage] password_file {secret}: cannot read: Permission denied; "
        f"the user postel runs as must be able to read it: "
        f"chown {user.pw_name} {secret} && chmod 600 {secret}"
    ]
    assert not (config / "data").exists()  # refused before anything was made
