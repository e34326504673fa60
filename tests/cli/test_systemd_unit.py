"""The systemd unit shipped in the package and `postel
systemd-unit`, which prints it for an installation. That the unit's
capabilities and no-new-privileges still let `postel serve` switch to its
user is shown by tests/integration/test_install_wheel.py, which starts the
installed wheel under them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from postel.cli.main import cli
from postel.quickstart import quickstart
from postel.systemdunit import UnitPathError, outermost, render, settings, shipped_unit

OPT = Path("/opt/postel/bin/postel")
BASE = Path("/var/lib/postel")


def test_the_shipped_unit_is_for_the_layout_of_the_install_docs() -> None:
    unit = shipped_unit()
    assert (
        render(
            unit,
            executable=OPT,
            config_dir=BASE / "config",
            writable=[BASE / "data", BASE / "config"],
        )
        == unit
    )
    docs = (Path(__file__).resolve().parents[2] / "docs" / "install.md").read_text()
    assert str(OPT) in docs and str(BASE / "config") in docs


def test_the_unit_keeps_root_only_what_the_switch_of_user_needs() -> None:
    keys = settings(shipped_unit())
    assert keys["ExecStart"] == [f"{OPT} serve --config {BASE / 'config'}"]
    assert keys["CapabilityBoundingSet"] == [
        "CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_DAC_READ_SEARCH"
    ]
    for key, value in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", f"{BASE / 'config'} {BASE / 'data'}"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("KillMode", "mixed"),  # docs/running.md: SIGTERM to the main process only
        ("SystemCallFilter", "@system-service"),  # has @setuid: setgroups, setresuid
    ]:
        assert keys[key] == [value], key
    assert "User" not in keys  # postel starts as root and switches itself


def test_written_paths_inside_another_are_left_out() -> None:
    assert outermost([BASE / "data", BASE, BASE / "config", BASE]) == [BASE]
    assert outermost([Path("/srv/b"), Path("/srv/a")]) == [Path("/srv/a"), Path("/srv/b")]


@pytest.mark.parametrize("bad", ["/srv/my postel", "/srv/50%", "relative/dir", '/srv/"q"'])
def test_a_path_systemd_would_split_or_expand_is_refused(bad: str) -> None:
    with pytest.raises(UnitPathError) as err:
        render(shipped_unit(), executable=OPT, config_dir=Path(bad), writable=[BASE])
    assert str(err.value) == (
        f"{bad} (the configuration directory): not usable in a systemd unit as it is (it "
        "must be absolute, without spaces, quotes, backslashes, ';' or '%'); use another "
        "path or a symlink"
    )


def test_systemd_unit_command_prints_the_unit_for_this_installation(tmp_path: Path) -> None:
    quickstart(tmp_path / "config", "you@example.test", password="p" * 16)
    done = CliRunner().invoke(cli, ["systemd-unit", "--config", str(tmp_path / "config")])
    assert done.exit_code == 0, done.output
    postel = Path(sys.executable).parent / "postel"
    config = (tmp_path / "config").resolve()
    keys = settings(done.output)
    assert keys["ExecStart"] == [f"{postel} serve --config {config}"]
    assert keys["ReadWritePaths"] == [f"{config} {(tmp_path / 'data').resolve()}"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # this check only; the unit's keys were checked above
        pytest.skip("systemd-analyze not installed: the unit is not verified")
    unit = tmp_path / "postel.service"
    unit.write_text(done.output)
    verify = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (verify.returncode, verify.stderr) == (0, "")


def test_systemd_unit_without_a_configuration_is_one_line(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["systemd-unit", "--config", str(tmp_path / "none")])
    assert done.exit_code == 1
    assert done.stderr == (
        f"error: {tmp_path / 'none'}: no such configuration directory; create one with "
        "`postel quickstart`, or name yours with --config DIR or $POSTEL_CONFIG\n"
    )
