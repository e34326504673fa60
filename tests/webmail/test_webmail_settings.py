"""The webmail's settings page and .mobileconfig download."""

from __future__ import annotations

import plistlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from webmail_env import Env, make_env

from postel.localserve import ADDRESS, HOSTNAME, PASSWORD, PORTS


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = make_env(tmp_path)
    yield e
    e.client.close()
    e.store.close()


def test_settings_page_shows_servers_and_profile_link(env: Env) -> None:
    env.login()
    r = env.client.get("/webmail/settings")
    assert r.status_code == 200
    html = r.text
    assert 'href="/webmail/settings/mail.mobileconfig"' in html
    assert f'>{HOSTNAME}</td><td data-label="Port">{PORTS["imaps"]}</td>' in html
    assert f'>{HOSTNAME}</td><td data-label="Port">{PORTS["submissions"]}</td>' in html
    assert f">{ADDRESS}</td>" in html
    # Every page links to it.
    assert 'href="/webmail/settings"' in env.client.get("/webmail/compose").text


def test_profile_download(env: Env) -> None:
    env.login()
    r = env.client.get("/webmail/settings/mail.mobileconfig")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-apple-aspen-config"
    assert r.headers["content-disposition"] == f'attachment; filename="{ADDRESS}.mobileconfig"'
    assert PASSWORD.encode() not in r.content
    [mail] = plistlib.loads(r.content)["PayloadContent"]
    assert mail["EmailAddress"] == ADDRESS
    assert mail["IncomingMailServerHostName"] == HOSTNAME
    assert mail["IncomingMailServerPortNumber"] == PORTS["imaps"]
    assert mail["OutgoingMailServerPortNumber"] == PORTS["submissions"]
    assert mail["IncomingMailServerUsername"] == mail["OutgoingMailServerUsername"] == ADDRESS


def test_needs_login(env: Env) -> None:
    for path in ("/webmail/settings", "/webmail/settings/mail.mobileconfig"):
        r = env.client.get(path, follow_redirects=False)
        assert r.status_code in (302, 303) and "/webmail/login" in r.headers["location"], path
