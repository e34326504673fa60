"""Domains and accounts added and removed through the admin edit domains.toml safely."""

from __future__ import annotations

from starlette.testclient import TestClient
from webtestlib import Instance, post

from postel.config import load_config
from postel.localserve import DOMAIN
from postel.store.credentials import Credentials


def test_add_and_remove_domain(client: TestClient, instance: Instance) -> None:
    path = instance.cfg.domains_file
    before = path.read_text()
    assert before.startswith("# localserve domains")
    r = post(
        client,
        "/admin/domains",
        "/admin/domains/add",
        {
            "domain": "New.Example",
            "description": "second",
            "dkim": "on",
            "mta_sts": "on",
            "report_account": "you",
        },
    )
    assert r.status_code == 200
    assert r.url.path == "/admin/domains/new.example/dns"
    assert "Domain new.example added" in r.text
    text = path.read_text()
    assert text.startswith("# localserve domains")  # comments kept
    cfg = load_config(instance.cfg.dir)  # the file on disk is valid, keys included
    dom = cfg.domains.domains["new.example"]
    assert dom.description == "second"
    assert len(dom.dkim.sign) == 2
    assert dom.mta_sts is not None and dom.mta_sts.mode == "enforce"
    assert dom.tlsrpt_reports is not None and dom.tlsrpt_reports.account == "you"
    # The running configuration follows.
    assert "new.example" in instance.cfg.domains.domains
    assert "_domainkey.new.example." in r.text

    r = post(client, "/admin/domains/new.example", "/admin/domains/new.example/remove", {})
    assert r.url.path == "/admin/domains"
    assert "Domain new.example removed" in r.text
    assert "new.example" not in load_config(instance.cfg.dir).domains.domains
    assert "new.example" not in instance.cfg.domains.domains


def test_add_domain_refuses_bad_and_duplicate_names(client: TestClient, instance: Instance) -> None:
    before = instance.cfg.domains_file.read_text()
    r = post(client, "/admin/domains", "/admin/domains/add", {"domain": "not a domain"})
    assert "Not added" in r.text
    r = post(client, "/admin/domains", "/admin/domains/add", {"domain": DOMAIN})
    assert "already exists" in r.text
    assert instance.cfg.domains_file.read_text() == before


def test_remove_domain_in_use_is_refused(client: TestClient, instance: Instance) -> None:
    before = instance.cfg.domains_file.read_text()
    r = post(client, f"/admin/domains/{DOMAIN}", f"/admin/domains/{DOMAIN}/remove", {})
    assert "still used by account you" in r.text
    assert instance.cfg.domains_file.read_text() == before


def test_add_and_remove_account(client: TestClient, instance: Instance) -> None:
    r = post(
        client,
        "/admin/accounts",
        "/admin/accounts/add",
        {"address": f"Bob@{DOMAIN}", "full_name": "Bob B", "password": "bobs password"},
    )
    assert f"Account bob added with address Bob@{DOMAIN}" in r.text
    cfg = load_config(instance.cfg.dir)
    assert cfg.domains.accounts["bob"].full_name == "Bob B"
    with Credentials(cfg.datadir.auth_db) as creds:
        assert creds.verify("bob", "bobs password")
    assert (cfg.datadir.account_dir("bob")).is_dir()

    r = post(client, "/admin/accounts", "/admin/accounts/bob/remove", {})
    assert "Account bob removed" in r.text
    assert "bob" not in load_config(instance.cfg.dir).domains.accounts
    with Credentials(cfg.datadir.auth_db) as creds:
        assert not creds.has_password("bob")


def test_add_account_generates_password(client: TestClient, instance: Instance) -> None:
    r = post(client, "/admin/accounts", "/admin/accounts/add", {"address": f"carol@{DOMAIN}"})
    assert "Its password: " in r.text
    password = r.text.split("Its password: ")[1].split("<")[0].strip()
    with Credentials(instance.cfg.datadir.auth_db) as creds:
        assert creds.verify("carol", password)


def test_add_account_with_unknown_domain_is_refused(client: TestClient, instance: Instance) -> None:
    before = instance.cfg.domains_file.read_text()
    r = post(
        client,
        "/admin/accounts",
        "/admin/accounts/add",
        {"address": "dave@elsewhere.example", "password": "long enough"},
    )
    assert "Not added" in r.text
    assert "unknown domain" in r.text or "not configured" in r.text
    assert instance.cfg.domains_file.read_text() == before


def test_remove_postmaster_account_is_refused(client: TestClient, instance: Instance) -> None:
    r = post(client, "/admin/accounts", "/admin/accounts/you/remove", {})
    assert "postmaster_account" in r.text
    assert "you" in load_config(instance.cfg.dir).domains.accounts
