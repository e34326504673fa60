"""Install: the wheel built from this checkout, installed with
its runtime dependencies into a fresh virtual environment, is a working postel.

As docs/install.md tells an administrator: the `postel` system user, the
venv, `postel quickstart` and `postel serve` as root (with the capability
bounding set and no-new-privileges of the shipped systemd unit), then the
first login: a message submitted with the quickstart password lands in the
mailbox the webmail shows. The serving processes must run as `postel`.

The wheel is built from a clean copy of the checkout (a shared clone at HEAD
with the working tree's changes on top), so stale files of an earlier build
in build/ cannot slip into it. pip installs the runtime dependencies from its
configured index (its cache makes a second run fast); every step is bounded
in time.

Runs as root (the test machine does). Debian's /usr/bin/python3 (3.11) makes
the venv: the `postel` user must be able to run it, and /root, where a
pyenv interpreter lives, is closed to it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import tomlkit
from procs import of_kind

import postel
from postel.buildinfo import checkout_commit, checkout_root

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs as root, as docs/install.md does"),
    pytest.mark.timeout(900),
]

PYTHON = "/usr/bin/python3"
USER = "postel"
ADDRESS = "you@example.test"
STEP_TIMEOUT = 600  # seconds for one pip step (building, or installing with dependencies)
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
# pip keeps its own settings (index, cache) but not the test's Python path: the
# checkout on PYTHONPATH would count as postel installed already.
PIP_ENV = {
    k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
}


def run(argv: list[str | Path], *, timeout: float = 60, **kw: object) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,  # type: ignore[call-overload]
    )
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def clean_copy(repo: Path, dst: Path) -> None:
    """*repo* at HEAD plus its working tree's changes, in *dst* (a git checkout)."""
    head = run(["git", "-C", repo, "rev-parse", "HEAD"]).strip()
    run(["git", "clone", "--quiet", "--shared", "--no-checkout", repo, dst])
    run(["git", "-C", dst, "checkout", "--quiet", "--detach", head])
    changed = run(
        ["git", "-C", repo, "ls-files", "-z", "--modified", "--others", "--exclude-standard"]
    )
    for name in filter(None, changed.split("\0")):
        src, out = repo / name, dst / name
        if src.is_file():
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out)
        elif out.is_file():  # deleted in the working tree
            out.unlink()


@dataclass
class Installed:
    base: Path  # mode 755: the postel user can reach the venv and the configuration
    venv: Path
    wheel: Path
    commit: str

    @property
    def postel(self) -> Path:
        return self.venv / "bin" / "postel"


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    repo = checkout_root()
    assert repo is not None, "the test builds the wheel from a git checkout of postel"
    commit = checkout_commit(repo)
    assert commit is not None
    base = Path(tempfile.mkdtemp(prefix="postel-install-"))
    base.chmod(0o755)
    try:
        clean_copy(repo, base / "src")
        venv = base / "venv"
        run([PYTHON, "-m", "venv", venv])
        pip = [venv / "bin" / "pip", "--disable-pip-version-check", "--quiet"]
        wheels = base / "wheels"
        run(
            [*pip, "wheel", "--no-deps", "-w", wheels, base / "src"],
            timeout=STEP_TIMEOUT,
            env=PIP_ENV,
        )
        (wheel,) = wheels.glob("postel-*.whl")
        run([*pip, "install", wheel], timeout=STEP_TIMEOUT, env=PIP_ENV)
        shutil.rmtree(base / "src")
        yield Installed(base, venv, wheel, commit)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def postel_user() -> Iterator[pwd.struct_passwd]:
    """The `postel` system user, made as docs/install.md says when it is missing
    (and then removed again)."""
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        argv = ["useradd", "--system", "--home-dir", "/nonexistent"]
        subprocess.run([*argv, "--shell", "/usr/sbin/nologin", USER], check=True, timeout=30)
        created = True
    try:
        yield pwd.getpwnam(USER)
    finally:
        if created:
            subprocess.run(["userdel", USER], check=True, timeout=30)


def test_the_wheel_holds_the_package_data(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for name in [
        "postel/py.typed",
        "postel/_commit.txt",
        "postel/data/postel.service",
        "postel/web/templates/base.html",
        "postel/web/templates/webmail/login.html",
        "postel/web/templates/admin/home.html",
        "postel/web/static/webmail.css",
        "postel/web/static/admin.js",
    ]:
        assert name in names, name
    assert not [n for n in names if n.startswith(("tests/", "bench/", "src/"))]
    # Every template and static file of the source tree is in it.
    src = Path(postel.__file__).resolve().parent
    for sub in ("web/templates", "web/static"):
        for path in (src / sub).rglob("*"):
            if path.is_file():
                assert f"postel/{path.relative_to(src)}" in names, path


def test_version_prints_version_and_commit(installed: Installed) -> None:
    where = run([installed.venv / "bin" / "python", "-c", "import postel; print(postel.__file__)"],
                env=CLEAN_ENV, cwd=installed.base)  # fmt: skip
    assert where.startswith(str(installed.venv)), where  # the wheel's postel, not the checkout
    out = run([installed.postel, "version"], env=CLEAN_ENV, cwd=installed.base)
    assert out == f"postel {postel.__version__} (commit {installed.commit})\n"


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def quickstart_ip() -> str:
    """A loopback address where quickstart's ports (25, 465, 587, 443) are free."""
    for n in range(200):
        ip = f"127.0.{(os.getpid() + n) % 200 + 40}.25"
        with contextlib.ExitStack() as stack:
            try:
                for port in (25, 465, 587, 443):
                    s = stack.enter_context(socket.socket())
                    s.bind((ip, port))
            except OSError:
                continue
            return ip
    raise RuntimeError("no loopback address with ports 25, 465, 587 and 443 free")


def uids(pid: int) -> tuple[list[int], list[int], str]:
    """(real, effective, saved, fs) uids, gids and the effective capabilities of *pid*."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (
        [int(x) for x in fields["Uid"].split()],
        [int(x) for x in fields["Gid"].split()],
        fields["CapEff"].strip(),
    )


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.extend(int(p) for p in (task / "children").read_text().split())
    return out


def unit_confinement(unit: str) -> list[str]:
    """setpriv options for the unit's CapabilityBoundingSet and NoNewPrivileges."""
    from postel.systemdunit import settings

    keys = settings(unit)
    (caps,) = keys["CapabilityBoundingSet"]
    wanted = ",".join(f"+{c.removeprefix('CAP_').lower()}" for c in caps.split())
    assert keys["NoNewPrivileges"] == ["yes"]
    return ["setpriv", f"--bounding-set=-all,{wanted}", "--inh-caps=-all", "--no-new-privs"]


def wait_for_banner(ip: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((ip, port), 1) as s:
                assert s.recv(512).startswith(b"220")
                return
        except OSError:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def unverified() -> ssl.SSLContext:
    """quickstart's certificate is self-signed."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def scrape(port: int) -> Samples:
    """The samples of /metrics on the metrics listener (docs/metrics.md)."""
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def submit(ip: str, password: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = msg["To"] = ADDRESS
    msg["Subject"] = subject
    msg.set_content("the first message after the install\n")
    with smtplib.SMTP(ip, 587, local_hostname="laptop.example.test", timeout=30) as c:
        c.starttls(context=unverified())
        c.login(ADDRESS, password)
        assert c.send_message(msg) == {}


def webmail_inbox(port: int, password: str) -> str:
    """Log in to the webmail of the internal listener; the Inbox page."""
    base = f"http://127.0.0.1:{port}/webmail"
    with httpx.Client(timeout=30) as web:
        form = web.get(f"{base}/login")
        assert form.status_code == 200, form.text
        match = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert match, form.text
        done = web.post(
            f"{base}/login",
            data={"csrf": match.group(1), "next": "", "address": ADDRESS, "password": password},
            headers={"origin": f"http://127.0.0.1:{port}"},
            follow_redirects=True,
        )
        assert done.status_code == 200, done.text
        return done.text


def test_quickstart_and_serve_as_root_run_as_the_postel_user(
    installed: Installed, postel_user: pwd.struct_passwd
) -> None:
    base = installed.base
    ip = quickstart_ip()
    out = run(
        [installed.postel, "quickstart", ADDRESS, "--dir", base, "--hostname", "mail.example.test",
         "--ip", ip],
        env=CLEAN_ENV, cwd=base,
    )  # fmt: skip
    config = base / "config"
    assert f"now belong to user {USER}" in out, out
    password = re.search(r"^  password: (\S+)$", out, re.M)
    assert password, out
    # The test's own loopback ports for what is not on *ip*, and no resolver: the
    # mail stays on this machine (docs/install.md does not need these).
    static = tomlkit.parse((config / "postel.toml").read_text())
    web_port = free_port()
    static["listeners"]["internal"]["ips"] = ["127.0.0.1"]  # type: ignore[index]
    static["listeners"]["internal"]["web"]["port"] = web_port  # type: ignore[index]
    static["dns"] = {"nameservers": ["127.0.0.1"], "port": free_port(), "timeout": 0.5}
    static["limits"] = {"smtp_workers": 2}
    assert static["metrics"]["enabled"] is True  # type: ignore[index]  # quickstart's
    metrics_port = free_port()
    static["metrics"]["port"] = metrics_port  # type: ignore[index]
    (config / "postel.toml").write_text(tomlkit.dumps(static))
    assert (config / "postel.toml").stat().st_uid == 0

    # The unit for this installation; its confinement for the start below.
    unit = run([installed.postel, "systemd-unit", "--config", config], env=CLEAN_ENV, cwd=base)
    assert f"ExecStart={installed.postel} serve --config {config}\n" in unit
    assert f"ReadWritePaths={config} {base / 'data'}\n" in unit
    verify = shutil.which("systemd-analyze")
    if verify is None:  # only this check; the rest of the test runs
        print("systemd-analyze not installed: the unit is not verified")
    else:
        (base / "postel.service").write_text(unit)
        done = subprocess.run(
            [verify, "verify", str(base / "postel.service")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (0, ""), done.stderr

    log = base / "serve.log"
    with open(log, "wb") as stream:
        proc = subprocess.Popen(
            [*unit_confinement(unit), str(installed.postel), "serve", "--config", str(config)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=CLEAN_ENV,
            cwd=base,
        )
    try:
        wait_for_banner(ip, 25, proc, log)
        want = [postel_user.pw_uid] * 4, [postel_user.pw_gid] * 4, "0000000000000000"
        assert uids(proc.pid) == want
        workers = children(proc.pid)
        assert len(of_kind(workers, "smtp")) == 2
        assert of_kind(workers, "delivery")  # [delivery] workers: automatic
        for pid in workers:
            assert uids(pid) == want

        deadline = time.monotonic() + 20
        while not port_open(metrics_port):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        before = scrape(metrics_port)
        subject = f"installed {os.getpid()}"
        submit(ip, password.group(1), subject)
        deadline = time.monotonic() + 30
        while subject not in (page := webmail_inbox(web_port, password.group(1))):
            assert time.monotonic() < deadline, page
            time.sleep(0.5)
        after = scrape(metrics_port)
        # The submission (in a worker) and the webmail's requests (main process),
        # summed over the processes by prometheus_client's multiprocess mode.
        moved = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
        accepted = ("postel_messages_received_total",
                    frozenset({("protocol", "submission"), ("result", "accepted")}))  # fmt: skip
        assert moved.get(accepted, 0) >= 1, moved
        assert any(
            name == "postel_command_duration_seconds_count"
            and ("protocol", "http") in labels
            and v > 0
            for (name, labels), v in moved.items()
        ), moved
        health = httpx.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10)
        assert health.status_code == 200, health.text

        assert (base / "data" / "postel.version").stat().st_uid == postel_user.pw_uid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert f'm="running as user" pkg=privdrop user={USER}' in text, text
    assert "l=error" not in text and "Traceback" not in text, text
