"""The junk filter's settings of a configuration (postel.junk.filter.settings_of):
made once, not at every read of a filing, and again after a reload."""

from __future__ import annotations

from pathlib import Path

from postel.config import load_config
from postel.config.domains import DomainsConfig
from postel.junk.filter import junk_filter

STATIC = """hostname = "mail.example.com"
postmaster_account = "alice"
"""
DOMAINS = """[domains."example.com"]
[accounts.alice]
domain = "example.com"
addresses = ["alice@example.com"]
"""


def test_settings_are_made_once_and_again_after_a_reload(tmp_path: Path) -> None:
    (tmp_path / "postel.toml").write_text(STATIC)
    (tmp_path / "domains.toml").write_text(DOMAINS)
    cfg = load_config(tmp_path)
    jf = junk_filter(cfg, None)
    assert jf is not None
    first = jf.settings
    assert jf.settings is first  # no new Settings per read
    assert first.for_account("alice").junk == 0.9
    data = cfg.domains.model_dump()
    data["accounts"]["alice"]["junk"] = {"junk": 0.7}
    cfg.domains = DomainsConfig.model_validate(data)  # as a reload replaces them
    assert jf.settings is not first
    assert jf.settings.for_account("alice").junk == 0.7
