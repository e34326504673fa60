"""gentestdata: a small but complete config and data directory (docs/data-safety.md).

DIR/config (postel.toml, domains.toml, keys, certificate) and DIR/data with
2 domains (one internationalised), 3 accounts (one empty, one with an Inbox
message, one with a unicode address and a flagged Sent message), a DMARC
report, a TLS report, a cached MTA-STS policy, recorded TLS results and a
queued message. Every release makes this data so that later releases can be
tested on it (scripts/test-upgrade).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from postel.config import Config, load_config
from postel.datadir import DataDir
from postel.errors import PostelError
from postel.fsutil import write_new

DOMAIN = "example.org"
IDN_DOMAIN = "bücher.example"
IDN_DOMAIN_A = "xn--bcher-kva.example"
HOSTNAME = "mail.example.org"
# Passwords are fixed: this data is for tests only.
ACCOUNTS = {
    "alice": ("alice@example.org", "alice-test-password"),
    "bob": ("bob@example.org", "bob-test-password"),
    "joerg": (f"jörg@{IDN_DOMAIN_A}", "jörg-test-password"),
}


class GenTestDataError(PostelError):
    pass


@dataclass(frozen=True)
class Generated:
    base: Path
    config_dir: Path
    data_dir: Path


STATIC_TOML = f"""# postel.toml made by `postel gentestdata` (test data only).
hostname = "{HOSTNAME}"
data_dir = "../data"
postmaster_account = "alice"

[host_tlsrpt]
localpart = "tls-reports"
account = "alice"
mailbox = "TLSRPT"

[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ port = 0 }}
submission = {{ port = 0 }}
submissions = {{ port = 0 }}
"""

DOMAINS_TOML = f"""# domains.toml made by `postel gentestdata` (test data only).
[domains."{DOMAIN}"]
dkim.sign = ["t1"]

[domains."{DOMAIN}".dkim.selectors.t1]
algorithm = "ed25519"
key_file = "dkim/{DOMAIN}/t1.ed25519.pem"

[domains."{DOMAIN}".dmarc_reports]
localpart = "dmarc-reports"
account = "alice"
mailbox = "DMARC"

[domains."{DOMAIN}".tlsrpt_reports]
localpart = "tls-reports"
account = "alice"
mailbox = "TLSRPT"

[domains."{DOMAIN}".mta_sts]
policy_id = "20240101T000000"
mode = "enforce"
max_age = 86400
mx = ["{HOSTNAME}"]

[domains."{DOMAIN}".aliases]
team = ["alice@{DOMAIN}", "bob@{DOMAIN}"]

[domains."{IDN_DOMAIN_A}"]
dkim.sign = ["t1"]

[domains."{IDN_DOMAIN_A}".dkim.selectors.t1]
algorithm = "ed25519"
key_file = "dkim/{IDN_DOMAIN_A}/t1.ed25519.pem"

[accounts.alice]
domain = "{DOMAIN}"
addresses = ["{ACCOUNTS["alice"][0]}"]
full_name = "Alice Example"

[accounts.bob]
domain = "{DOMAIN}"
addresses = ["{ACCOUNTS["bob"][0]}"]

[accounts.joerg]
domain = "{IDN_DOMAIN_A}"
addresses = ["{ACCOUNTS["joerg"][0]}"]
full_name = "Jörg Müller"
"""

INBOX_MESSAGE = (
    b"From: Carol <carol@sender.example>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: Hello Alice\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <gentestdata-1@sender.example>\r\n"
    b"\r\n"
    b"A message in the Inbox.\r\n"
)

SENT_MESSAGE = (
    f"From: Jörg Müller <jörg@{IDN_DOMAIN}>\r\n"
    "To: alice@example.org\r\n"
    "Subject: Grüße aus der Bücherei\r\n"
    "Date: Mon, 01 Jan 2024 11:00:00 +0000\r\n"
    "Message-ID: <gentestdata-2@xn--bcher-kva.example>\r\n"
    "In-Reply-To: <gentestdata-1@sender.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Eine gesendete Nachricht mit Umlauten: äöü.\r\n"
).encode()

QUEUED_MESSAGE = (
    b"From: alice@example.org\r\n"
    b"To: dave@remote.example\r\n"
    b"Subject: Waiting in the queue\r\n"
    b"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n"
    b"Message-ID: <gentestdata-3@example.org>\r\n"
    b"\r\n"
    b"A queued message.\r\n"
)

DMARC_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>reporter.example</org_name>
    <email>dmarc@reporter.example</email>
    <report_id>gentestdata-dmarc-1</report_id>
    <date_range><begin>1704067200</begin><end>1704153599</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>example.org</domain>
    <adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>reject</sp><pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.1</source_ip>
      <count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>example.org</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.org</domain><result>pass</result><selector>t1</selector></dkim>
      <spf><domain>example.org</domain><result>pass</result></spf>
    </auth_results>
  </record>
</feedback>
"""

# RFC 8460 §4.4 shape.
TLS_REPORT = {
    "organization-name": "Reporter Example",
    "date-range": {
        "start-datetime": "2024-01-01T00:00:00Z",
        "end-datetime": "2024-01-01T23:59:59Z",
    },
    "contact-info": "tlsrpt@reporter.example",
    "report-id": "gentestdata-tlsrpt-1",
    "policies": [
        {
            "policy": {
                "policy-type": "sts",
                "policy-string": [
                    "version: STSv1",
                    "mode: enforce",
                    f"mx: {HOSTNAME}",
                    "max_age: 86400",
                ],
                "policy-domain": DOMAIN,
                "mx-host": [HOSTNAME],
            },
            "summary": {"total-successful-session-count": 5, "total-failure-session-count": 1},
            "failure-details": [
                {
                    "result-type": "certificate-expired",
                    "sending-mta-ip": "192.0.2.2",
                    "receiving-mx-hostname": HOSTNAME,
                    "failed-session-count": 1,
                }
            ],
        }
    ],
}

MTASTS_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.example\r\nmax_age: 604800\r\n"


def generate(base: Path) -> Generated:
    """Make base/config and base/data; *base* must not exist."""
    base = Path(base)
    if base.exists():
        raise GenTestDataError(f"{base}: already exists, not overwriting")
    base.mkdir(parents=True, mode=0o700)
    config_dir = base / "config"
    _write_config(config_dir)

    cfg = load_config(config_dir)
    datadir = cfg.datadir
    datadir.ensure()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _passwords(datadir.auth_db)
    _accounts(cfg, now)
    _junk(datadir, now)
    _reports(datadir, now)
    _mtasts(datadir.mtasts_db, now)
    _tls_results(datadir.tlsrptresult_db, now)
    _dmarc_evaluations(datadir.dmarceval_db, now)
    _queue(cfg, now)
    return Generated(base, config_dir, datadir.root)


def _write_config(config_dir: Path) -> None:
    from postel.hostkeys import write_key_and_cert

    config_dir.mkdir(mode=0o700)
    write_key_and_cert(config_dir / "certs/host.key", config_dir / "certs/host.crt", [HOSTNAME])
    for domain in (DOMAIN, IDN_DOMAIN_A):
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_new(config_dir / f"dkim/{domain}/t1.ed25519.pem", pem)
    write_new(config_dir / "postel.toml", STATIC_TOML.encode(), mode=0o644)
    write_new(config_dir / "domains.toml", DOMAINS_TOML.encode(), mode=0o644)


def _passwords(auth_db: Path) -> None:
    from postel.store.credentials import Credentials

    with Credentials(auth_db) as creds:
        for name, (_addr, password) in ACCOUNTS.items():
            creds.set_password(name, password)


def _accounts(cfg: Config, now: dt.datetime) -> None:
    from postel.store import Store

    with Store(cfg.datadir, accounts=cfg.domains.accounts.keys()) as store:
        alice = store.account("alice")
        alice.deliver_bytes("Inbox", INBOX_MESSAGE, received=now)
        store.account("bob")  # empty: only the default mailboxes
        joerg = store.account("joerg")
        joerg.deliver_bytes(
            "Sent",
            SENT_MESSAGE,
            flags=["\\Seen", "\\Answered", "\\Flagged"],
            keywords=["$Forwarded", "project-x"],
            received=now,
        )
        joerg.create_mailbox("Archiv/2024")
        store.recover()  # as a clean stop of the server leaves it (store/recovery.py)


def _junk(datadir: DataDir, now: dt.datetime) -> None:
    """alice judged one message of each kind; delivery filed one in Junk."""
    from postel.junk.db import JunkDB
    from postel.junk.decide import Filing
    from postel.junk.filter import message_features, message_key
    from postel.junk.reputation import Verified, identities

    db = JunkDB.open(datadir.account_dir("alice"))
    try:
        spam = b"Subject: cheap pills\r\n\r\nwin a prize now\r\n"
        ham = INBOX_MESSAGE
        ids = identities(Verified(dmarc_from="remote.example", ip="192.0.2.7"))
        db.train(message_key(spam), message_features(spam), ids, spam=True)
        db.train(message_key(ham), message_features(ham), [], spam=False)
        filing = Filing("junk", 0.97, ("junk score 0.970", "cheap pills (0.99)"))
        db.record_filing(message_key(spam), filing, now)
    finally:
        db.close()


def _reports(datadir: DataDir, now: dt.datetime) -> None:
    from postel import dmarcdb, tlsrptdb
    from postel.dmarcrpt.parse import parse_report_xml
    from postel.tlsrpt.parse import parse_report_json

    parsed = parse_report_xml(DMARC_REPORT, strict=False)
    with dmarcdb.open(datadir.dmarcrpt_db) as ddb:
        ddb.add(
            parsed.report,
            warnings=list(parsed.warnings),
            from_addr="dmarc@reporter.example",
            to_rcpt=f"dmarc-reports@{DOMAIN}",
            received=now,
        )
    tparsed = parse_report_json(json.dumps(TLS_REPORT))
    with tlsrptdb.open(datadir.tlsrpt_db) as tdb:
        tdb.add(
            tparsed.report,
            kind="domain",
            warnings=list(tparsed.warnings),
            from_addr="tlsrpt@reporter.example",
            to_rcpt=f"tls-reports@{DOMAIN}",
            received=now,
        )


def _mtasts(path: Path, now: dt.datetime) -> None:
    from postel.mtasts.policy import parse_policy
    from postel.mtastsdb import MTASTSDB, CachedPolicy

    policy = parse_policy(MTASTS_POLICY)
    db = MTASTSDB.open(path)
    try:
        db.put(
            CachedPolicy(
                domain="remote.example",
                inserted=now,
                valid_end=now + dt.timedelta(seconds=policy.max_age),
                last_update=now,
                last_use=now,
                backoff=False,
                record_id="20240101",
                policy=policy,
                policy_text=MTASTS_POLICY,
            )
        )
    finally:
        db.close()


def _tls_results(path: Path, now: dt.datetime) -> None:
    from postel.tlsrpt.report import Policy, PolicyDetails, PolicyType, Summary
    from postel.tlsrptresultdb.db import ResultDB
    from postel.tlsrptresultdb.record import AttemptResults

    db = ResultDB.open(path)
    try:
        sts = Policy(
            PolicyDetails(
                PolicyType.STS,
                [line for line in MTASTS_POLICY.split("\r\n") if line],
                "remote.example",
                ["mx.remote.example"],
            ),
            Summary(total_successful_session_count=1),
        )
        db.add_attempt(
            AttemptResults("remote.example", domain_result=sts), send_report=True, now=now
        )
        db.suppress("tlsrpt@noisy.example", now + dt.timedelta(days=30), "gentestdata")
    finally:
        db.close()


def _dmarc_evaluations(path: Path, now: dt.datetime) -> None:
    from postel.dmarcevaldb import DKIMEval, EvalDB, Evaluation, SPFEval

    with EvalDB.open(path) as db:
        db.add(
            [
                Evaluation(
                    received=now,
                    policy_domain="remote.example",
                    header_from="remote.example",
                    source_ip="192.0.2.25",
                    p="quarantine",
                    sp=None,
                    adkim="r",
                    aspf="r",
                    pct=100,
                    testing=False,
                    disposition="none",
                    dkim_aligned="pass",
                    spf_aligned="pass",
                    envelope_from="remote.example",
                    dkim=[DKIMEval("remote.example", "s1", "pass")],
                    spf=SPFEval("remote.example", "mfrom", "pass"),
                )
            ]
        )
        db.set_last_report_end("remote.example", now.replace(hour=0, minute=0, second=0))
        db.suppress("dmarc@noisy.example", now + dt.timedelta(days=30), "gentestdata")


def _queue(cfg: Config, now: dt.datetime) -> None:
    from postel.queue import QueueDB

    db = QueueDB.open(cfg.datadir)
    try:
        db.add(
            QUEUED_MESSAGE,
            account="alice",
            mail_from=f"alice@{DOMAIN}",
            rcpts=["dave@remote.example", "erin@remote.example"],
            requiretls=False,
            tls_required_no=False,
            is_tlsrpt=False,
            is_dmarc_report=False,
            smtputf8=False,
            eightbit=False,
            max_attempts=10,
            now=now,
            subject="Waiting in the queue",
            message_id="<gentestdata-3@example.org>",
        )
    finally:
        db.close()
