"""`postel localserve` serves the admin on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from postel.localserve import PASSWORD, PORTS

pytestmark = pytest.mark.integration


def test_localserve_admin(testnet: Any, tmp_path: Path) -> None:
    ip = testnet.ip()  # a loopback address of its own, so the fixed ports are free
    postel = Path(sys.executable).parent / "postel"
    proc = subprocess.Popen(
        [str(postel), "localserve", "--dir", str(tmp_path / "local"), "--ip", ip],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        admin_url = ""
        while time.monotonic() < deadline and not admin_url:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"Admin\s+(http://\S+)", line)
            if m:
                admin_url = m.group(1)
        assert admin_url == f"http://{ip}:{PORTS['web']}/admin/"
        with httpx.Client(timeout=10) as client:
            page = client.get(admin_url, follow_redirects=True)
            assert page.status_code == 200 and "Admin login" in page.text
            token = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert token
            r = client.post(
                admin_url + "login",
                data={"csrf": token.group(1), "password": PASSWORD},
                follow_redirects=True,
            )
            assert r.status_code == 200 and "postel.localhost" in r.text
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
