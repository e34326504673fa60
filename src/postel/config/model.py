"""postel.toml: the static configuration of the server."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

LogLevel = Literal["error", "warn", "info", "debug", "trace", "traceauth", "tracedata"]


def _ip_addresses(value: list[str]) -> list[str]:
    """Validator body: every entry must be an IPv4 or IPv6 address."""
    for ip in value:
        try:
            ipaddress.ip_address(ip)
        except ValueError as exc:
            raise ValueError(f"not an IP address: {ip!r}") from exc
    return value


def _ip_networks(value: list[str]) -> list[str]:
    """Validator body: every entry must be an IPv4 or IPv6 network (host bits allowed)."""
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError as exc:
            raise ValueError(f"not an IP network: {net!r}") from exc
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Port(Strict):
    enabled: bool = Field(True, description="Whether this service listens.")
    port: int = Field(25, ge=0, le=65535, description="TCP port (0: any free port, for tests).")


class SubmissionPort(Port):
    port: int = Field(587, ge=0, le=65535, description="TCP port (0: any free port, for tests).")


class SubmissionsPort(Port):
    port: int = Field(465, ge=0, le=65535, description="TCP port (0: any free port, for tests).")


class WebService(Strict):
    enabled: bool = Field(False, description="Serve HTTP(S) on this listener.")
    port: int = Field(443, ge=1, le=65535, description="TCP port of the web listener.")
    tls: bool = Field(True, description="HTTPS with the listener's certificate (else plain HTTP).")
    admin: bool = Field(False, description="Serve the admin pages (/admin/).")
    webmail: bool = Field(False, description="Serve the webmail (/webmail/).")
    mtasts: bool = Field(
        False, description="Serve MTA-STS policies at https://mta-sts.<domain>/.well-known/."
    )


class Listener(Strict):
    ips: list[str] = Field(
        default_factory=lambda: ["0.0.0.0", "::"], description="IP addresses to listen on."
    )
    tls_cert_file: str = Field("", description="PEM certificate chain for STARTTLS/TLS.")
    tls_key_file: str = Field("", description="PEM private key for the certificate.")
    smtp: Port = Field(
        default_factory=Port,
        description="Incoming mail (port 25, STARTTLS).",
    )
    submission: SubmissionPort = Field(
        default_factory=SubmissionPort,
        description="Submission with STARTTLS and AUTH (port 587).",
    )
    submissions: SubmissionsPort = Field(
        default_factory=SubmissionsPort,
        description="Submission over implicit TLS (port 465).",
    )
    web: WebService = Field(default_factory=WebService, description="Web listener.")
    internal: bool = Field(
        False,
        description="An internal listener: admin pages are allowed here (loopback always is).",
    )

    @field_validator("ips")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return _ip_addresses(value)


class LogConfig(Strict):
    level: LogLevel = Field("info", description="Default log level.")
    packages: dict[str, LogLevel] = Field(
        default_factory=dict,
        description='Per-package levels, e.g. smtpserver = "trace".',
    )


class DNSConfig(Strict):
    nameservers: list[str] = Field(
        default_factory=list,
        description="Validating resolver addresses; empty: those of /etc/resolv.conf.",
    )
    port: int = Field(53, ge=1, le=65535, description="Resolver port.")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds per DNS query.")

    @field_validator("nameservers")
    @classmethod
    def _ns(cls, value: list[str]) -> list[str]:
        return _ip_addresses(value)


class TLSConfig(Strict):
    extra_ca_files: list[str] = Field(
        default_factory=list,
        description="Extra PEM CA files trusted for PKIX (MTA-STS fetches, delivery).",
    )


class ReportsConfig(Strict):
    no_outgoing_tls_reports: bool = Field(
        False, description="Do not record TLS results nor send TLS reports (RFC 8460)."
    )
    outgoing_tls_reports_for_all_success: bool = Field(
        False, description="Also send TLS reports when every session succeeded."
    )
    report_sender_localpart: str = Field(
        "postmaster", description="Localpart of the From address of outgoing TLS reports."
    )


class HostTLSRPT(Strict):
    localpart: str = Field(
        "",
        description="Accept TLS reports about this host at <localpart>@<hostname> "
        "(empty: disabled).",
    )
    account: str = Field("", description="Account that receives the host TLS reports.")
    mailbox: str = Field("TLSRPT", description="Mailbox for the host TLS reports.")


class Limits(Strict):
    max_message_size: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest message accepted, in bytes."
    )
    max_recipients: int = Field(1000, ge=1, description="Recipients per message.")
    max_line_length: int = Field(8192, ge=1000, description="Longest SMTP line accepted.")
    command_timeout: float = Field(300, gt=0, description="Seconds to wait for a command.")
    connection_timeout: float = Field(1800, gt=0, description="Longest SMTP session, seconds.")
    max_connections: int = Field(1000, ge=1, description="Concurrent SMTP connections.")
    max_connections_per_ip: int = Field(
        50,
        ge=1,
        description="Concurrent SMTP connections from one client (an IPv4 address or an "
        "IPv6 /64); like max_connections it applies to each SMTP process.",
    )
    connection_limit_exempt: list[str] = Field(
        ["127.0.0.0/8", "::1/128"],
        description="Networks whose clients max_connections_per_ip does not count "
        "(e.g. a local content filter).",
    )
    smtp_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="SMTP processes of `postel serve`: 0 automatic (CPUs, at most 4), "
        "1 the main process itself, more: that many worker processes sharing the ports "
        "(SO_REUSEPORT). max_connections applies to each process.",
    )

    @field_validator("connection_limit_exempt")
    @classmethod
    def _exempt(cls, value: list[str]) -> list[str]:
        return _ip_networks(value)


class DeliveryConfig(Strict):
    local_only: bool = Field(
        False,
        description="Never connect out: deliver outgoing mail to local accounts "
        "(used by localserve).",
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of remote MX hosts.")
    connect_timeout: float = Field(30, gt=0, description="Seconds to connect to a host.")


class ServerConfig(Strict):
    user: str = Field(
        "postel",
        description="Unprivileged user that `postel serve` switches to after binding its "
        "ports, when started as root (started as another user, it runs as that user). "
        'Empty (""): no switch, postel keeps running as root (not recommended; for '
        "containers that confine it otherwise, and tests).",
    )


class StaticConfig(Strict):
    hostname: str = Field(..., description="Host name of this mail server (EHLO, MX target).")
    data_dir: str = Field("data", description="Data directory, relative to the config dir.")
    postmaster_account: str = Field(..., description="Account receiving postmaster mail.")
    postmaster_mailbox: str = Field("Postmaster", description="Mailbox for postmaster mail.")
    admin_password_file: str = Field(
        "adminpasswd", description="File with the admin password hash, relative to config dir."
    )
    host_tlsrpt: HostTLSRPT = Field(default_factory=HostTLSRPT, description="Host TLSRPT.")
    listeners: dict[str, Listener] = Field(
        default_factory=dict, description="Named listeners, e.g. [listeners.public]."
    )
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    dns: DNSConfig = Field(default_factory=DNSConfig, description="DNS resolver.")
    tls: TLSConfig = Field(default_factory=TLSConfig, description="TLS trust.")
    reports: ReportsConfig = Field(default_factory=ReportsConfig, description="TLS reports.")
    limits: Limits = Field(default_factory=Limits, description="SMTP limits.")
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig, description="Delivery.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="The server process.")

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        from postel.config.names import check_domain

        return check_domain(value)
