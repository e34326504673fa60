"""[junk] rspamd_url: off by default, plain HTTP to an IP address on loopback
or in [delivery] allowed_internal_networks only; one-line errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from postel.config import ConfigError, load_config
from postel.junk.filter import Settings
from postel.junk.rspamdproto import Endpoint

STATIC = """hostname = "mail.example.com"
postmaster_account = "alice"
"""
DOMAINS = """[domains."example.com"]
[accounts.alice]
domain = "example.com"
addresses = ["alice@example.com"]
"""


def load(d: Path, extra: str) -> Settings:
    (d / "postel.toml").write_text(STATIC + extra)
    (d / "domains.toml").write_text(DOMAINS)
    cfg = load_config(d)
    return Settings.from_config(cfg.static.junk, cfg.domains.accounts)


def problems(d: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(d, extra)
    text = "\n".join(str(p) for p in info.value.problems)
    assert "Traceback" not in text
    return text


def test_off_by_default(tmp_path: Path) -> None:
    s = load(tmp_path, "")
    assert s.rspamd is None and s.rspamd_timeout == 10.0


def test_loopback_and_allowed_networks(tmp_path: Path) -> None:
    s = load(tmp_path, '[junk]\nrspamd_url = "http://127.0.0.1:11333"\nrspamd_timeout = 2.5\n')
    assert s.rspamd == Endpoint("127.0.0.1", 11333) and s.rspamd_timeout == 2.5
    assert load(tmp_path, '[junk]\nrspamd_url = "http://[::1]:11333/"\n').rspamd == Endpoint(
        "::1", 11333
    )
    allowed = '[delivery]\nallowed_internal_networks = ["10.1.0.0/16"]\n'
    s = load(tmp_path, allowed + '[junk]\nrspamd_url = "http://10.1.2.3:11333"\n')
    assert s.rspamd == Endpoint("10.1.2.3", 11333)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://10.1.2.3:11333", "10.1.2.3 is not on loopback or in [delivery]"),
        ("http://192.0.2.1:11333", "192.0.2.1 is not on loopback"),
        ("http://8.8.8.8:11333", "8.8.8.8 is not on loopback"),
        ("http://0.0.0.0:11333", "0.0.0.0 is not on loopback"),
        ("https://127.0.0.1:11333", "must be an http:// URL"),
        ("http://rspamd.internal:11333", "the host must be an IP address"),
        ("http://127.0.0.1:11333/checkv2", "nothing after it"),
    ],
)
def test_refused_urls(tmp_path: Path, url: str, said: str) -> None:
    assert said in problems(tmp_path, f'[junk]\nrspamd_url = "{url}"\n')


def test_timeout_bounds(tmp_path: Path) -> None:
    assert "rspamd_timeout" in problems(tmp_path, "[junk]\nrspamd_timeout = 0\n")
    assert "rspamd_timeout" in problems(tmp_path, "[junk]\nrspamd_timeout = 600\n")
