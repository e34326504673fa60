"""A configuration directory for the webmail's browser tests: one domain, one
account with a password, the test network's resolver, and the listeners each
test asks for; and the login every such test starts with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postel.config import Config, load_config
from postel.store.credentials import Credentials
from postel.store.passwords import scrypt_hash


@dataclass(frozen=True)
class Site:
    """What write_site writes: *domain* with the account "you" at *address*."""

    domain: str
    address: str
    password: str
    full_name: str
    hostname: str = ""  # mail.<domain> when empty
    # The admin password's file (admin_password_file); None: no admin login.
    admin_password: str | None = None
    # Mail to outside domains stays local (delivery.local_only).
    local_only: bool = True


def write_site(
    root: Path,
    site: Site,
    resolver_ip: str,
    listeners: str,
    *,
    extra_config: str = "",
    extra_delivery: str = "",
    extra_domains: str = "",
) -> Config:
    """Write root/config (postel.toml with *listeners*, *extra_config* at the top
    level and *extra_delivery* in [delivery]; domains.toml with *extra_domains*),
    create the data directory with the account's password, and return the
    loaded configuration."""
    conf = root / "config"
    conf.mkdir(parents=True, exist_ok=True)
    admin = ""
    if site.admin_password is not None:
        (conf / "adminpasswd").write_text(scrypt_hash(site.admin_password) + "\n")
        admin = 'admin_password_file = "adminpasswd"\n'
    local_only = "local_only = true\n" if site.local_only else ""
    (conf / "postel.toml").write_text(
        f'hostname = "{site.hostname or "mail." + site.domain}"\n'
        'data_dir = "../data"\n'
        'postmaster_account = "you"\n'
        f"{admin}{extra_config}\n"
        f'[dns]\nnameservers = ["{resolver_ip}"]\ntimeout = 3\n\n'
        "[delivery]\n"
        'allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback\n'
        f"{local_only}{extra_delivery}\n{listeners}"
    )
    (conf / "domains.toml").write_text(
        f'[domains."{site.domain}"]\n\n'
        f'[accounts.you]\ndomain = "{site.domain}"\naddresses = ["{site.address}"]\n'
        f'full_name = "{site.full_name}"\n{extra_domains}'
    )
    cfg = load_config(conf)
    cfg.datadir.ensure()
    creds = Credentials(cfg.datadir.auth_db)
    try:
        creds.set_password("you", site.password)
    finally:
        creds.close()
    return cfg


def web_listener(ip: str, port: int, *, admin: bool = False) -> str:
    """An internal listener with only the plain-HTTP web (webmail, maybe admin)."""
    return (
        f'[listeners.net]\nips = ["{ip}"]\ninternal = true\n'
        "smtp = { enabled = false }\nsubmission = { enabled = false }\n"
        "submissions = { enabled = false }\n"
        f"web = {{ enabled = true, port = {port}, tls = false, webmail = true, "
        f"admin = {'true' if admin else 'false'} }}\n"
    )


def login(page: Any, base: str, site: Site, landing: str = "/webmail/mailbox?name=Inbox") -> None:
    """Log in to the webmail at *base* and wait for *landing*."""
    page.goto(base + "/webmail/login")
    page.fill("input[name=address]", site.address)
    page.fill("input[name=password]", site.password)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(base + landing)
