"""Certificate checks: `config test` reports a certificate
that is expired, not yet valid or lacks a configured name, and warns of expiry
within 14 days; the server logs them at start and daily."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from postel.certcheck import check_certificate, covers, daily
from postel.cli.main import cli
from postel.config import load_config
from postel.hostkeys import generate_key, key_pem

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)

STATIC = """
hostname = "mail.example.org"
postmaster_account = "pm"

[listeners.main]
ips = ["127.0.0.1"]
tls_cert_file = "host.crt"
tls_key_file = "host.key"
web = { enabled = true, port = 443, mtasts = true }
"""

DOMAINS = """
[domains."example.org"]
[domains."example.org".mta_sts]
policy_id = "1"
mode = "enforce"
[accounts.pm]
domain = "example.org"
addresses = ["pm@example.org"]
"""


def write_cert(conf: Path, names: list[str], before: dt.datetime, after: dt.datetime) -> None:
    key = generate_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    (conf / "host.key").write_bytes(key_pem(key))
    (conf / "host.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def config_dir(tmp_path: Path, names: list[str], before: dt.datetime, after: dt.datetime) -> Path:
    (tmp_path / "postel.toml").write_text(STATIC)
    (tmp_path / "domains.toml").write_text(DOMAINS)
    write_cert(tmp_path, names, before, after)
    return tmp_path


GOOD = ["mail.example.org", "mta-sts.example.org"]


def config_test(conf: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["config", "test", "--config", str(conf)])
    return result.exit_code, result.output


def test_expired(tmp_path: Path) -> None:
    conf = config_dir(tmp_path, GOOD, dt.datetime(2019, 1, 1), dt.datetime(2020, 3, 1))
    code, out = config_test(conf)
    assert code == 1
    assert (
        f"problem: {conf / 'host.crt'} (listener 'main'): the certificate expired on 2020-03-01"
        in out
    )
    assert "OK" not in out and "Traceback" not in out


def test_not_yet_valid(tmp_path: Path) -> None:
    conf = config_dir(tmp_path, GOOD, NOW + 3 * DAY, NOW + 90 * DAY)
    code, out = config_test(conf)
    assert code == 1 and "the certificate is not valid before" in out


def test_lacks_a_configured_name(tmp_path: Path) -> None:
    conf = config_dir(tmp_path, ["mail.example.org"], NOW - DAY, NOW + 90 * DAY)
    code, out = config_test(conf)
    assert code == 1
    assert "lacks the name mta-sts.example.org (it has mail.example.org)" in out


def test_expiry_within_14_days_is_a_warning(tmp_path: Path) -> None:
    conf = config_dir(tmp_path, GOOD, NOW - 80 * DAY, NOW + 5 * DAY + dt.timedelta(hours=1))
    code, out = config_test(conf)
    assert code == 0 and "warning:" in out and "expires on" in out and "in 5 days" in out
    assert ": OK (" in out


def test_good_certificate_says_ok(tmp_path: Path) -> None:
    conf = config_dir(tmp_path, GOOD, NOW - DAY, NOW + 60 * DAY)
    code, out = config_test(conf)
    assert code == 0 and "warning" not in out and "problem" not in out


def test_wildcard_covers_one_label() -> None:
    assert covers(["*.example.org"], "mta-sts.example.org")
    assert not covers(["*.example.org"], "example.org")
    assert not covers(["*.example.org"], "a.b.example.org")


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.crt").write_text("nonsense")
    [f] = check_certificate(tmp_path / "x.crt", GOOD, NOW, "listener 'x'")
    assert f.error and "\n" not in f.text and "x.crt" in f.text


async def test_logged_at_start_and_daily(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conf = config_dir(tmp_path, GOOD, NOW - 80 * DAY, NOW + 3 * DAY)
    cfg = load_config(conf)
    caplog.set_level(logging.WARNING, logger="postel.certcheck")
    task = asyncio.create_task(daily(cfg, interval=0.1))
    try:
        for _ in range(50):
            if len(caplog.records) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    warnings = [r for r in caplog.records if r.getMessage() == "tls certificate expires soon"]
    assert len(warnings) >= 2  # at start, and again each interval (a day in the server)
    assert "in 2 days" in warnings[0].detail or "in 3 days" in warnings[0].detail  # type: ignore[attr-defined]
