"""postel.toml: the static configuration of the server."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from postel.loginlimit.policy import Settings as LoginLimitSettings

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


class IMAPPort(Port):
    enabled: bool = Field(
        False, description="Whether IMAP with STARTTLS listens (LOGINDISABLED before TLS)."
    )
    port: int = Field(143, ge=0, le=65535, description="TCP port (0: any free port, for tests).")


class IMAPSPort(Port):
    enabled: bool = Field(False, description="Whether IMAP over implicit TLS listens (RFC 8314).")
    port: int = Field(993, ge=0, le=65535, description="TCP port (0: any free port, for tests).")


class WebService(Strict):
    enabled: bool = Field(False, description="Serve HTTP(S) on this listener.")
    port: int = Field(443, ge=1, le=65535, description="TCP port of the web listener.")
    tls: bool = Field(True, description="HTTPS with the listener's certificate (else plain HTTP).")
    admin: bool = Field(False, description="Serve the admin pages (/admin/).")
    webmail: bool = Field(False, description="Serve the webmail (/webmail/).")
    mtasts: bool = Field(
        False, description="Serve MTA-STS policies at https://mta-sts.<domain>/.well-known/."
    )
    autoconfig: bool = Field(
        True,
        description="Serve client settings of hosted domains to mail apps: Thunderbird's "
        "autoconfig (/mail/config-v1.1.xml, also for host autoconfig.<domain>) and "
        "Autodiscover (/autodiscover/autodiscover.xml); docs/client-setup.md. They name "
        "only the host and the IMAP and submission ports of public listeners.",
    )
    max_connections_per_ip: int = Field(
        50,
        ge=1,
        description="Concurrent connections to this web listener from one client (an IPv4 "
        "address or an IPv6 /64); further ones get 503 and are closed at once. Loopback "
        "counts too, unless listed in connection_limit_exempt.",
    )
    connection_limit_exempt: list[str] = Field(
        default_factory=list,
        description="Networks whose clients max_connections_per_ip does not count. Empty by "
        "default: browsers reach the web listener directly (there is no proxy support).",
    )
    head_timeout: float = Field(
        30,
        gt=0,
        description="Seconds a request head may take, from the connection or its "
        "first byte; then the connection is closed.",
    )
    body_timeout: float = Field(
        20,
        gt=0,
        description="Seconds a request body may lag behind min_body_rate after its head; "
        "then the connection is closed (408).",
    )
    min_body_rate: int = Field(
        1024,
        ge=0,
        description="Bytes per second a request body must average (0: no minimum), "
        "allowing body_timeout seconds.",
    )
    request_timeout: float = Field(
        600,
        gt=0,
        description="Seconds a whole request (head and body) may take; then the connection "
        "is closed (408). A 25 MB webmail upload needs about 42 KB/s for 600 s.",
    )

    @field_validator("connection_limit_exempt")
    @classmethod
    def _exempt(cls, value: list[str]) -> list[str]:
        return _ip_networks(value)


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
    imap: IMAPPort = Field(
        default_factory=IMAPPort,
        description="IMAP with STARTTLS (port 143); needs the listener's certificate.",
    )
    imaps: IMAPSPort = Field(
        default_factory=IMAPSPort,
        description="IMAP over implicit TLS (port 993); needs the listener's certificate.",
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


LETSENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"


class ACMEConfig(Strict):
    """Certificates from an ACME CA (RFC 8555) for every listener without its own files."""

    enabled: bool = Field(
        False,
        description="Get and renew certificates with ACME for the mail host and the "
        "mta-sts. and autoconfig. names of every hosted domain; listeners without "
        "tls_cert_file/tls_key_file then use them (data dir certs/).",
    )
    directory_url: str = Field(
        LETSENCRYPT_DIRECTORY,
        description="The CA's ACME directory. Let's Encrypt by default; its staging "
        f"directory for trials: {LETSENCRYPT_STAGING_DIRECTORY}",
    )
    contact: str = Field("", description="Contact email address given to the CA (optional).")
    eab_kid: str = Field(
        "",
        description="External account binding key id, when the CA requires one (RFC 8555 §7.3.4).",
    )
    eab_hmac_key_file: str = Field(
        "",
        description="File with the base64url HMAC key of the external account binding, "
        "relative to the config dir.",
    )
    ca_file: str = Field(
        "",
        description="PEM CA file trusted for the ACME directory's HTTPS (a private CA); "
        "empty: the system's trust store.",
    )
    challenge: Literal["tls-alpn-01", "http-01"] = Field(
        "tls-alpn-01",
        description="Challenge answered: tls-alpn-01 (RFC 8737) on the HTTPS listeners, or "
        "http-01 on http01_port.",
    )
    http01_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port for http-01 answers on the IPs of every listener (80 in "
        "practice); a plain-HTTP web listener on this port answers them itself; "
        "0: no http-01 listener.",
    )
    retry_min: float = Field(
        60.0, gt=0, description="Seconds before the first retry after a failed order."
    )
    retry_max: float = Field(
        86400.0, gt=0, description="Longest wait between retries (the wait doubles each time)."
    )


class ReportsConfig(Strict):
    no_outgoing_tls_reports: bool = Field(
        False, description="Do not record TLS results nor send TLS reports (RFC 8460)."
    )
    outgoing_tls_reports_for_all_success: bool = Field(
        False, description="Also send TLS reports when every session succeeded."
    )
    report_sender_localpart: str = Field(
        "postmaster",
        description="Localpart of the From address of outgoing TLS and DMARC reports.",
    )
    no_outgoing_dmarc_reports: bool = Field(
        False,
        description="Do not record DMARC evaluations of incoming mail nor send DMARC "
        "aggregate reports (RFC 7489 §7.2).",
    )
    dmarc_report_max_records: int = Field(
        10000,
        ge=1,
        description="Most rows in one outgoing DMARC aggregate report; rows beyond it "
        "(the sources with the fewest messages) are left out and the report says so "
        "in an error element.",
    )
    known_senders: list[str] = Field(
        default_factory=list,
        description="Networks that send mail as our domains besides this server (a "
        "newsletter service, another office server): received DMARC reports showing "
        "failures from them are not listed as problems. This server's listener "
        "addresses are always known.",
    )
    findings_digest_to: str = Field(
        "",
        description="Address of the daily mail listing problems that others report about "
        "our domains (received TLS and DMARC reports); empty: the postmaster account's "
        'postmaster mailbox; "-": no digest.',
    )

    @field_validator("known_senders")
    @classmethod
    def _known_senders(cls, value: list[str]) -> list[str]:
        return _ip_networks(value)


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
    command_timeout: float = Field(
        300, gt=0, description="Seconds to wait for a command, or for more DATA."
    )
    connection_timeout: float = Field(
        1800, gt=0,
        description="Longest SMTP session, seconds, DATA and the TLS handshake included: "
        "then 421 and the connection is closed (a message not yet ended is not taken).",
    )  # fmt: skip
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


class IMAPConfig(Strict):
    """Limits of the IMAP server (docs/imap.md); its ports are set per listener
    (imap, imaps). The largest APPEND is limits.max_message_size (APPENDLIMIT)."""

    max_line_length: int = Field(
        8192, ge=1000, description="Longest command line accepted, literals not counted."
    )
    unauthenticated_timeout: float = Field(
        60, gt=0, description="Seconds a connection may wait before logging in."
    )
    idle_timeout: float = Field(
        1800,
        ge=1800,
        description="Seconds a logged-in client may be silent, IDLE included (RFC 9051 "
        "§5.4: at least 30 minutes); then BYE and the connection is closed.",
    )
    max_append_total: int = Field(
        200 * 1024 * 1024,
        ge=1,
        description="Bytes all literals of one command may have together: the messages "
        "of one MULTIAPPEND (RFC 3502), each of which is at most limits.max_message_size; "
        "never less than limits.max_message_size.",
    )
    max_connections: int = Field(1000, ge=1, description="Concurrent IMAP connections.")
    max_connections_per_ip: int = Field(
        50,
        ge=1,
        description="Concurrent IMAP connections from one client (an IPv4 address or an "
        "IPv6 /64); limits.connection_limit_exempt applies.",
    )
    max_connections_per_account: int = Field(
        50, ge=1, description="Concurrent logged-in IMAP connections of one account."
    )
    recheck_interval: float = Field(
        2.0,
        gt=0,
        description="Seconds between looks at the selected mailbox during IDLE when "
        "there is no change feed (in `serve` and `localserve` the store's change "
        "notifications wake IDLE at once instead).",
    )


class LoginLimitConfig(Strict):
    """One limiter for SMTP AUTH, admin and webmail logins (and IMAP): failed
    logins are counted per client (IPv4 address or IPv6 /64), per client and
    account, and per account, before the password is checked. Beyond the free
    failures each attempt waits first_delay, doubled per further failure, up to
    max_delay (docs/login-limits.md)."""

    free_per_client_account: int = Field(
        5, ge=1, description="Failed logins to one account from one client before delays start."
    )
    free_per_client: int = Field(
        20, ge=1, description="Failed logins from one client, to any accounts, before delays."
    )
    free_per_account: int = Field(
        100,
        ge=1,
        description="Failed logins to one account from all clients before delays; not "
        "applied to a client that logged in to the account within trusted_days.",
    )
    first_delay: float = Field(1.0, gt=0, description="Seconds of the first delay.")
    max_delay: float = Field(300.0, gt=0, description="Longest delay, seconds.")
    window: float = Field(3600.0, gt=0, description="Seconds a failed login is remembered.")
    trusted_days: float = Field(
        30.0,
        ge=0,
        description="Days a successful login exempts its client from the per-account count.",
    )

    def settings(self) -> LoginLimitSettings:
        return LoginLimitSettings(
            free_per_client_account=self.free_per_client_account,
            free_per_client=self.free_per_client,
            free_per_account=self.free_per_account,
            first_delay=self.first_delay,
            max_delay=self.max_delay,
            window=self.window,
            trusted_for=self.trusted_days * 86400.0,
        )


class DeliveryConfig(Strict):
    local_only: bool = Field(
        False,
        description="Never connect out: deliver outgoing mail to local accounts "
        "(used by localserve).",
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of remote MX hosts.")
    connect_timeout: float = Field(30, gt=0, description="Seconds to connect to a host.")
    domain_concurrency: int = Field(
        100,
        ge=1,
        le=10000,
        description="Recipient domains delivered to at once, each by its own job (sized "
        "like Postfix's default_process_limit of 100 delivery processes); a domain's "
        "messages count once here and up to destination_concurrency each.",
    )
    destination_concurrency: int = Field(
        20,
        ge=1,
        le=1000,
        description="Deliveries at once to one recipient domain (as Postfix's "
        "default_destination_concurrency_limit); domains are delivered to in parallel.",
    )
    connection_cache_time: float = Field(
        2.0,
        ge=0,
        le=300,
        description="Seconds an SMTP connection to a remote host stays open after a "
        "delivery, for the next message to the same host under the same TLS policy "
        "(as Postfix's smtp_connection_cache_time_limit); 0: one connection per message.",
    )
    connection_reuse_limit: int = Field(
        100,
        ge=1,
        description="Messages sent over one SMTP connection before it is closed.",
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes that deliver outgoing mail for `postel serve`: 0 automatic "
        "(CPUs, at most 4), 1 the main process itself, more: that many worker processes, "
        "each recipient domain always in the same one (its idle connections stay there). "
        "The main process still claims and records every attempt.",
    )
    allowed_internal_networks: list[str] = Field(
        default_factory=list,
        description="Loopback, private (RFC 1918, fc00::/7), link-local, carrier-grade NAT and "
        "other special-purpose networks that MX hosts, MTA-STS policy hosts and TLS report "
        "URIs may resolve to. Default none: such addresses are refused, so that DNS cannot "
        'point the server at internal services; e.g. ["10.1.0.0/16"] for an MX on the '
        'local network, ["127.0.0.0/8", "::1/128"] for tests on loopback.',
    )

    @field_validator("allowed_internal_networks")
    @classmethod
    def _internal(cls, value: list[str]) -> list[str]:
        return _ip_networks(value)


class JunkThresholds(Strict):
    """Where the junk filter files a message by its score (0: ham, 1: spam)."""

    junk: float = Field(0.9, gt=0, lt=1, description="Score from which mail goes to Junk.")
    reject: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Score from which mail is kept in the Rejects mailbox (or refused, "
        "with refuse = true); 1 (the default): never, all junk goes to Junk. Clear spam "
        "scores above 0.999.",
    )
    refuse: bool = Field(
        False, description="Refuse mail above `reject` at SMTP instead of keeping it in Rejects."
    )
    min_trained: int = Field(
        10,
        ge=1,
        description="Messages the user judged of each kind (junk and not junk) before "
        "the classifier's score counts: a new account starts neutral.",
    )

    @model_validator(mode="after")
    def _order(self) -> JunkThresholds:
        if self.reject < self.junk:
            raise ValueError(f"reject ({self.reject}) is below junk ({self.junk})")
        return self


class JunkConfig(Strict):
    """The junk filter (docs/junk.md)."""

    enabled: bool = Field(
        True,
        description="File mail by the per-account classifier, the user's verdicts on "
        "verified senders and DNSBLs; refuse the GTUBE test message.",
    )
    thresholds: JunkThresholds = Field(
        default_factory=JunkThresholds,
        description="Defaults for every account (an account's own in domains.toml win).",
    )
    dnsbl_zones: list[str] = Field(
        default_factory=list,
        description="DNSBL zones (RFC 5782) to look the sending IP up in; a listing "
        "files the message in Junk. None by default: the large lists have terms of use "
        "and refuse queries through public resolvers.",
    )
    dnsbl_timeout: float = Field(
        3.0, gt=0, le=30, description="Seconds for all DNSBL lookups of one message."
    )
    dnsbl_internal_senders: bool = Field(
        False,
        description="Also look up loopback and private sending addresses (tests); "
        "by default only global ones.",
    )
    rspamd_url: str = Field(
        "",
        description="rspamd's normal worker, asked about every incoming message and "
        'combined with the filter\'s own signals, e.g. "http://127.0.0.1:11333". Empty '
        "(the default): rspamd is not asked. Plain HTTP to an IP address on loopback, or "
        "in [delivery] allowed_internal_networks.",
    )
    rspamd_timeout: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Seconds for rspamd's answer; without one in time the message is "
        "filed without it.",
    )

    @field_validator("dnsbl_zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        from postel.config.names import check_domain

        if len(value) > 10:
            raise ValueError("at most 10 DNSBL zones")
        return [check_domain(z) for z in value]

    @field_validator("rspamd_url")
    @classmethod
    def _rspamd_url(cls, value: str) -> str:
        from postel.junk.errors import RspamdError
        from postel.junk.rspamdproto import parse_url

        value = value.strip()
        if value:
            try:
                parse_url(value)
            except RspamdError as e:
                raise ValueError(str(e)) from None
        return value


class ServerConfig(Strict):
    user: str = Field(
        "postel",
        description="Unprivileged user that `postel serve` switches to after binding its "
        "ports, when started as root (started as another user, it runs as that user). "
        'Empty (""): no switch, postel keeps running as root (not recommended; for '
        "containers that confine it otherwise, and tests).",
    )


class MetricsConfig(Strict):
    enabled: bool = Field(
        False,
        description="Serve Prometheus metrics (/metrics) and a health check (/healthz) over "
        "plain HTTP on their own listener (docs/metrics.md).",
    )
    ip: str = Field(
        "127.0.0.1",
        description="Address of the metrics listener. Loopback by default: the metrics "
        "say much about the mail this server handles; put a non-loopback address here "
        "only behind a firewall that lets just the Prometheus server in.",
    )
    port: int = Field(
        9433, ge=0, le=65535, description="TCP port of the metrics listener (0: any free port)."
    )

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str) -> str:
        return _ip_addresses([value])[0]


class ObjectStoreConfig(Strict):
    """Message bodies of the PostgreSQL store in an S3-compatible object store
    (docs/postgresql.md, "Bodies in an object store")."""

    endpoint: str = Field(
        "",
        description='URL of the S3-compatible service ("https://s3.eu-west-1.amazonaws.com", '
        '"http://127.0.0.1:9000"). Empty (the default): bodies are kept in PostgreSQL. '
        "Needs the s3 extra (pip install 'postel[s3]').",
    )
    bucket: str = Field("", description="The bucket; required with an endpoint.")
    region: str = Field("us-east-1", description="The region the request signatures name.")
    access_key_id: str = Field("", description="The access key's id (not a secret).")
    secret_file: str = Field(
        "",
        description="File whose first line is the secret access key, relative to the config "
        "dir; the secret is never inline and never logged. Required with an endpoint.",
    )
    key_prefix: str = Field(
        "",
        max_length=200,
        description="Put before each object's name (the body's SHA-256 in hex), e.g. \"bodies/\".",
    )
    timeout: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Seconds to wait for the service to connect or answer one request; "
        "when it does not, SMTP answers 4xx and IMAP NO [UNAVAILABLE].",
    )
    sweep_every: float = Field(
        3600.0,
        ge=0,
        le=7 * 86400,
        description="Seconds between two runs of the sweep that deletes objects no body row "
        "names (left by removals); one node sweeps at a time. 0: never (postel "
        "sweep-objects runs it by hand).",
    )
    sweep_grace: float = Field(
        86400.0,
        ge=600,
        le=30 * 86400,
        description="Seconds an object, and a delivery's record of its PUT, stay untouched by "
        "the sweep: longer than any delivery takes between its PUT and its commit.",
    )
    sweep_pages: int = Field(
        10,
        ge=1,
        le=10000,
        description="Pages of the bucket's listing (1000 objects each) one periodic run "
        "looks at; the next run goes on where it stopped.",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ObjectStoreConfig:
        if self.endpoint and not (self.bucket and self.access_key_id and self.secret_file):
            raise ValueError("an endpoint needs bucket, access_key_id and secret_file")
        return self


class StorageConfig(Strict):
    """Where accounts and mail are kept (docs/postgresql.md)."""

    backend: Literal["sqlite", "postgresql"] = Field(
        "sqlite",
        description='"sqlite": SQLite and files in the data directory (the default). '
        '"postgresql": a PostgreSQL database shared by several postel nodes '
        "(docs/postgresql.md); needs the postgresql extra "
        "(pip install 'postel[postgresql]').",
    )
    dsn: str = Field(
        "",
        description="The PostgreSQL database, as a libpq connection string "
        '("host=db.internal dbname=postel user=postel") or URI '
        '("postgresql://postel@db.internal/postel"), without the password: one inline '
        'is refused. Required with backend = "postgresql".',
    )
    password_file: str = Field(
        "",
        description="File whose first line is the database password, relative to the "
        "config dir. Empty: no password (peer or certificate authentication, or libpq's "
        "own ~/.pgpass).",
    )
    pool_size: int = Field(
        10, ge=1, le=200, description="Most connections each postel node keeps open."
    )
    connect_timeout: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Seconds to wait for a connection to the database, also for a free "
        "one from the node's pool: while the database is down, SMTP answers 4xx and IMAP "
        "NO [UNAVAILABLE] after at most this long.",
    )
    queue_lease: float = Field(
        600.0,
        ge=3,
        le=86400,
        description="Seconds a node holds the outgoing queue entries it claimed for a "
        "delivery attempt (renewed as each attempt starts, and every third of it while "
        "attempts run). When a node stops or loses the database mid-delivery, its entries "
        "are due again for the other nodes once the lease ends.",
    )
    body_cache_size: int = Field(
        1024,
        ge=0,
        le=10_000_000,
        description="Megabytes of local copies of message bodies a node keeps in pg-bodies/ "
        '(backend = "postgresql"; written when IMAP opens a body). Checked every ten '
        "minutes: copies of removed bodies go, then the least recently used until the rest "
        "fit. A body whose copy went is fetched again when read.",
    )
    body_sweep_every: float = Field(
        3600.0,
        ge=0,
        le=7 * 86400,
        description="Seconds between two runs of the sweep of body rows no message names "
        '(backend = "postgresql"; left when a removal met a deadlock); one node sweeps at a '
        "time, 100,000 rows a run, going on where the last run stopped. 0: never (postel "
        "sweep-objects runs it by hand).",
    )
    body_sweep_grace: float = Field(
        86400.0,
        ge=600,
        le=30 * 86400,
        description="Seconds a body row written by a delivery stays untouched by that sweep: "
        "longer than any delivery takes.",
    )
    object_store: ObjectStoreConfig = Field(
        default_factory=ObjectStoreConfig,
        description='Message bodies in an S3-compatible object store (backend = "postgresql" '
        "only); by default they are kept in PostgreSQL.",
    )
    node_id: str = Field(
        "",
        max_length=200,
        description="This node's name among the nodes sharing the PostgreSQL store: it marks "
        "the outgoing queue entries the node claimed. Empty: the host name and the process "
        'id ("host:pid"), unique among nodes running at one time. Give each node its own '
        "name when set; two running nodes must never share one.",
    )

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str) -> str:
        value = value.strip()
        if value:
            from postel.pg.errors import PgSettingsError
            from postel.pg.settings import parse_dsn

            try:
                parse_dsn(value, where="")
            except PgSettingsError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _dsn_needed(self) -> StorageConfig:
        if self.backend == "postgresql" and not self.dsn:
            raise ValueError('backend = "postgresql" needs a dsn')
        if self.object_store.endpoint and self.backend != "postgresql":
            raise ValueError('object_store needs backend = "postgresql"')
        return self


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
    acme: ACMEConfig = Field(default_factory=ACMEConfig, description="ACME certificates.")
    reports: ReportsConfig = Field(default_factory=ReportsConfig, description="TLS reports.")
    limits: Limits = Field(default_factory=Limits, description="SMTP limits.")
    imap: IMAPConfig = Field(default_factory=IMAPConfig, description="IMAP limits.")
    login_limit: LoginLimitConfig = Field(
        default_factory=LoginLimitConfig, description="Failed login limits (all services)."
    )
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig, description="Delivery.")
    server: ServerConfig = Field(default_factory=ServerConfig, description="The server process.")
    junk: JunkConfig = Field(default_factory=JunkConfig, description="The junk filter.")
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="Prometheus metrics and health check."
    )
    storage: StorageConfig = Field(
        default_factory=StorageConfig, description="Where accounts and mail are kept."
    )

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        from postel.config.names import check_domain

        return check_domain(value)

    @model_validator(mode="after")
    def _rspamd_address(self) -> StaticConfig:
        """rspamd is asked over plain HTTP with the whole message: only on
        loopback or an internal network the operator allowed."""
        if not self.junk.rspamd_url:
            return self
        from postel.junk.rspamdproto import parse_url
        from postel.netpolicy import AddressPolicy, internal_kind

        ip = parse_url(self.junk.rspamd_url).ip
        policy = AddressPolicy.from_networks(
            ["127.0.0.0/8", "::1/128", *self.delivery.allowed_internal_networks]
        )
        kind = internal_kind(ipaddress.ip_address(ip))
        if kind in (None, "unspecified") or policy.refusal(ip) is not None:
            raise ValueError(
                f"[junk] rspamd_url: {ip} is not on loopback or in [delivery] "
                "allowed_internal_networks (the message goes to rspamd unencrypted)"
            )
        return self
