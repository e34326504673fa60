"""An operator's mistakes at `postel serve` / `postel localserve`:
each ends with one line on stderr naming the file or address:port and what to
do, and exit status 1, never a traceback. Runs the real command as a
subprocess on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import postel

SRC = str(Path(postel.__file__).resolve().parents[1])
ROOT = os.geteuid() == 0

POSTEL_TOML = """\
hostname = "mail.example.test"
postmaster_account = "pm"

[server]
user = ""  # no switch of user when the tests run as root: see test_serve_privdrop.py

[dns]
nameservers = ["127.0.0.1"]
port = {dns_port}
timeout = 1.0

[listeners.main]
ips = ["127.0.0.1"]
tls_cert_file = "{cert}"
tls_key_file = "{key}"
smtp = {{ port = {port} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}

[limits]
smtp_workers = {workers}
"""

DOMAINS_TOML = """\
[domains."example.test"]

[accounts.pm]
domain = "example.test"
addresses = ["postmaster@example.test"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def make_config(
    tmp_path: Path, ca: trustme.CA, *, port: int | None = None, workers: int = 1
) -> Path:
    config = tmp_path / "config"
    (config / "certs").mkdir(parents=True)
    leaf = ca.issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    (config / "postel.toml").write_text(
        POSTEL_TOML.format(
            dns_port=free_port(),
            cert="certs/host.crt",
            key="certs/host.key",
            port=port if port is not None else free_port(),
            workers=workers,
        )
    )
    (config / "domains.toml").write_text(DOMAINS_TOML)
    return config


def postel_cmd(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "postel", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def serve(config: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return postel_cmd("serve", "--config", str(config), prefix=prefix)


def without_caps(*caps: str) -> tuple[str, ...]:
    """Run as root without *caps* (as an unprivileged user would be)."""
    drop = ",".join(f"-{c}" for c in caps)
    return ("setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}")


def one_line(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    # As root with [server] user = "", a mistake found after the start-up checks
    # follows the warning about running as root.
    stderr = "".join(
        line for line in done.stderr.splitlines(keepends=True)
        if 'l=warn m="running as root: [server] user is empty' not in line
    )  # fmt: skip
    assert stderr == f"error: {expected}\n"
    assert done.returncode == 1


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as s:
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_port_in_use(tmp_path: Path, ca: trustme.CA, listening: int, workers: int) -> None:
    config = make_config(tmp_path, ca, port=listening, workers=workers)
    one_line(
        serve(config),
        f"127.0.0.1:{listening} (listener 'main' smtp): address already in use by another "
        f"program; stop that program or change listeners.main.smtp.port in "
        f"{config.resolve() / 'postel.toml'}",
    )


@pytest.mark.skipif(not ROOT, reason="drops a capability of root")
def test_privileged_port_without_permission(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca, port=1)
    one_line(
        serve(config, prefix=without_caps("net_bind_service")),
        "127.0.0.1:1 (listener 'main' smtp): permission denied; ports below 1024 need postel "
        "started as root or with CAP_NET_BIND_SERVICE, or change listeners.main.smtp.port in "
        f"{config.resolve() / 'postel.toml'}",
    )


def test_certificate_and_key_mismatch(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    other = ca.issue_cert("other.example.test")
    other.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    c = config.resolve()
    one_line(
        serve(config),
        f"{c / 'certs/host.key'}: this private key does not belong to the certificate "
        f"{c / 'certs/host.crt'} (listener 'main' in {c / 'postel.toml'}); configure the key "
        "the certificate was issued for, or a certificate for this key",
    )


def test_key_not_pem(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "certs" / "host.key").write_text("not a key\n")
    c = config.resolve()
    one_line(
        serve(config),
        f"{c / 'certs/host.key'}: not a usable PEM private key (listeners.main.tls_key_file in "
        f"{c / 'postel.toml'}); configure the key in PEM format, unencrypted",
    )


@pytest.mark.skipif(not ROOT, reason="drops a capability of root")
def test_key_unreadable(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "certs" / "host.key").chmod(0)
    c = config.resolve()
    one_line(
        serve(config, prefix=without_caps("dac_override", "dac_read_search")),
        f"{c / 'certs/host.key'}: permission denied (listeners.main.tls_key_file in "
        f"{c / 'postel.toml'}); make it readable by the user postel runs as",
    )


def test_certificate_missing(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "certs" / "host.crt").unlink()
    c = config.resolve()
    one_line(
        serve(config),
        f"{c / 'postel.toml'}:14: listeners.main.tls_cert_file: file not found: "
        f"{c / 'certs/host.crt'}; create it or correct the path",
    )


@pytest.mark.skipif(not ROOT, reason="drops a capability of root")
def test_config_unreadable(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "postel.toml").chmod(0)
    one_line(
        serve(config, prefix=without_caps("dac_override", "dac_read_search")),
        f"{config.resolve() / 'postel.toml'}: permission denied; make it readable by the "
        "user postel runs as",
    )


def test_config_directory_missing(tmp_path: Path) -> None:
    one_line(
        serve(tmp_path / "nowhere"),
        f"{tmp_path / 'nowhere'}: no such configuration directory; create one with "
        "`postel quickstart`, or name yours with --config DIR or $POSTEL_CONFIG",
    )


def test_config_file_missing(tmp_path: Path) -> None:
    one_line(
        serve(tmp_path),
        f"{tmp_path}: no postel.toml in this directory; create one with "
        "`postel quickstart`, or name yours with --config DIR or $POSTEL_CONFIG",
    )


def test_data_directory_of_a_newer_version(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "data").mkdir()
    (config / "data" / "postel.version").write_text("99.1.0\n")
    one_line(
        serve(config),
        f"{config.resolve() / 'data'}: written by postel 99.1.0, this is postel "
        f"{postel.__version__}; run postel 99.1.0 or newer with this data directory",
    )
    assert (config / "data" / "postel.version").read_text() == "99.1.0\n"  # left alone


@pytest.mark.skipif(not ROOT, reason="drops a capability of root")
def test_data_directory_not_writable(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "data").mkdir(mode=0o500)
    c = config.resolve()
    one_line(
        serve(config, prefix=without_caps("dac_override", "dac_read_search")),
        f"{c / 'data/postel.lock'}: Permission denied; the data directory {c / 'data'} must "
        "be writable by the user postel runs as",
    )


def test_localserve_port_in_use(tmp_path: Path) -> None:
    ip = "127.0.0.93"  # localserve's fixed ports, on an address of this test's own
    with socket.create_server((ip, 1025)):
        done = postel_cmd("localserve", "--dir", str(tmp_path / "local"), "--ip", ip)
    one_line(
        done,
        f"{ip}:1025 (listener 'local' smtp): address already in use by another program; "
        "stop that program, or start localserve with another loopback address "
        "(--ip 127.0.0.2 and a new --dir)",
    )


def test_a_bug_is_logged_with_traceback_and_cid(
    tmp_path: Path, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a mistake: an unexpected exception is logged with its traceback and a
    cid, and the one line on stderr names that cid (in-process, planted bug)."""
    import re

    from click.testing import CliRunner

    import postel.server
    from postel.cli.main import cli

    config = make_config(tmp_path, ca, port=0)

    async def broken_run(*args: object, **kw: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(postel.server, "run", broken_run)
    done = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert done.exit_code == 1
    lines = done.stderr.splitlines()
    match = re.fullmatch(
        r"error: unexpected error, postel stopped: ZeroDivisionError; "
        r"see the log line cid=([0-9a-f]+)",
        lines[-1],
    )
    assert match, lines
    (logged,) = [line for line in lines if "l=error" in line]
    assert 'err="ZeroDivisionError: planted"' in logged
    assert logged.endswith(f"cid={match.group(1)}")
    assert "Traceback (most recent call last):\\n" in logged  # one line, escaped
    assert "in broken_run" in logged


# The rest of the operator's mistakes, each with its exact line and exit status.


def test_certificate_not_pem(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "certs" / "host.crt").write_text("not a certificate\n")
    c = config.resolve()
    one_line(
        serve(config),
        f"{c / 'certs/host.crt'}: not a PEM certificate (listeners.main.tls_cert_file in "
        f"{c / 'postel.toml'}); configure the certificate chain in PEM format",
    )


@pytest.mark.skipif(not ROOT, reason="drops a capability of root")
def test_certificate_unreadable(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "certs" / "host.crt").chmod(0)
    c = config.resolve()
    one_line(
        serve(config, prefix=without_caps("dac_override", "dac_read_search")),
        f"{c / 'certs/host.crt'}: permission denied (listeners.main.tls_cert_file in "
        f"{c / 'postel.toml'}); make it readable by the user postel runs as",
    )


def test_key_missing(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    (config / "certs" / "host.key").unlink()
    c = config.resolve()
    one_line(
        serve(config),
        f"{c / 'postel.toml'}:15: listeners.main.tls_key_file: file not found: "
        f"{c / 'certs/host.key'}; create it or correct the path",
    )


def test_data_directory_in_use(tmp_path: Path, ca: trustme.CA) -> None:
    from postel.owner import OwnerLock

    config = make_config(tmp_path, ca)
    (config / "data").mkdir()
    lock = OwnerLock(config / "data")
    lock.acquire()  # this test's process is the running owner
    try:
        done = serve(config)
    finally:
        lock.release()
    one_line(
        done,
        f"{config / 'data'}: data directory in use by a running postel (pid {os.getpid()}); "
        "stop it first, or use another data directory",
    )


@pytest.mark.skipif(not ROOT, reason="the switch of user happens only when started as root")
def test_user_is_root(tmp_path: Path, ca: trustme.CA) -> None:
    config = make_config(tmp_path, ca)
    static = config / "postel.toml"
    static.write_text(static.read_text().replace('user = ""', 'user = "root"'))
    one_line(
        serve(config),
        f"user 'root' ([server] user in {config / 'postel.toml'}) is root; name an "
        "unprivileged user",
    )


def test_address_not_on_this_machine() -> None:
    """Every address of 127.0.0.0/8 is this machine's, and tests bind loopback
    addresses only: the kernel's answer for another address, EADDRNOTAVAIL, is
    given to the message directly (the exit status is the port tests' path)."""
    import errno

    from postel.preflight.ports import Endpoint, _bind_error

    ep = Endpoint("127.0.0.1", 25, "listener 'main' smtp", "listeners.main.smtp.port")
    err = OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
    message = str(_bind_error(err, "127.0.0.1:25 (listener 'main' smtp)", ep, "/c/postel.toml"))
    assert message == (
        "127.0.0.1:25 (listener 'main' smtp): no such address on this machine; change the "
        "listener's ips in /c/postel.toml"
    )
