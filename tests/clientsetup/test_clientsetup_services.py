"""Which services mail apps are told about (postel.clientsetup.services)."""

from __future__ import annotations

from typing import Any

from postel.clientsetup import ClientServices, Endpoint, client_services
from postel.config.model import StaticConfig


def static(listeners: dict[str, Any]) -> StaticConfig:
    return StaticConfig.model_validate(
        {"hostname": "mail.example.org", "postmaster_account": "pm", "listeners": listeners}
    )


OFF = {"enabled": False}


def test_public_listener_services_preferred_first() -> None:
    cfg = static(
        {
            "public": {
                "imap": {"enabled": True},
                "imaps": {"enabled": True},
                "submission": {"enabled": True},
                "submissions": {"enabled": True},
            }
        }
    )
    assert client_services(cfg) == ClientServices(
        "mail.example.org",
        (Endpoint(993, "tls"), Endpoint(143, "starttls")),
        (Endpoint(465, "tls"), Endpoint(587, "starttls")),
    )


def test_internal_listener_not_advertised_when_a_public_one_exists() -> None:
    cfg = static(
        {
            "public": {"imaps": {"enabled": True}, "submission": OFF},
            "inside": {
                "ips": ["127.0.0.1"],
                "internal": True,
                "imap": {"enabled": True, "port": 1143},
                "imaps": {"enabled": True, "port": 1993},
                "submissions": {"enabled": True, "port": 1465},
            },
        }
    )
    got = client_services(cfg)
    assert got.imap == (Endpoint(993, "tls"),)
    # The public listener's submissions (465, on by default); not the internal 1465.
    assert got.submission == (Endpoint(465, "tls"),)


def test_all_internal_installation_uses_its_listeners() -> None:
    cfg = static(
        {
            "local": {
                "ips": ["127.0.0.1"],
                "internal": True,
                "imaps": {"enabled": True, "port": 1993},
                "submission": OFF,
                "submissions": {"enabled": True, "port": 1465},
            }
        }
    )
    got = client_services(cfg)
    assert got.imap == (Endpoint(1993, "tls"),)
    assert got.submission == (Endpoint(1465, "tls"),)
    assert got.usable


def test_disabled_and_any_port_services_left_out() -> None:
    cfg = static(
        {
            "a": {"imaps": {"enabled": True, "port": 0}, "submission": OFF, "submissions": OFF},
        }
    )
    got = client_services(cfg)
    assert got.imap == () and got.submission == ()
    assert not got.usable


def test_standard_port_first_among_listeners() -> None:
    cfg = static(
        {
            "a": {"imaps": {"enabled": True, "port": 10993}},
            "b": {"ips": ["192.0.2.1"], "imaps": {"enabled": True, "port": 993}},
        }
    )
    assert client_services(cfg).imap == (Endpoint(993, "tls"), Endpoint(10993, "tls"))
