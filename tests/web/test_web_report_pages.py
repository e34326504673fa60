"""Report pages: received TLS and DMARC reports with charts, outgoing TLS results,
suppression list, MTA-STS cache, queue actions."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webtestlib import Instance, login, post

from pgcluster import Cluster, pg_cluster, pg_database
from postel import dmarcdb, tlsrptdb
from postel.config import load_config
from postel.dmarcrpt import parse_report as parse_dmarc
from postel.mtasts.policy import parse_policy
from postel.mtastsdb import MTASTSDB, CachedPolicy
from postel.queue import QueueEntries, SQLiteQueueEntries
from postel.tlsrpt import parse_report as parse_tlsrpt
from postel.tlsrptresultdb.db import ResultDB
from postel.tlsrptresultdb.record import AttemptResults
from postel.web.admin.charts import day_chart, org_chart

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"

__all__ = ["pg_cluster", "pg_database"]  # the PostgreSQL test's fixtures


def add_tls_report(instance: Instance, name: str = "rfc8460.json") -> int:
    report = parse_tlsrpt((TESTDATA / "tlsrpt" / name).read_bytes()).report
    with tlsrptdb.open(instance.cfg.datadir.tlsrpt_db) as db:
        return db.add(report, from_addr="reports@company-x.example", to_rcpt="tls@x").id


def test_tls_report_list_detail_and_charts(client: TestClient, instance: Instance) -> None:
    rid = add_tls_report(instance)
    add_tls_report(instance, "smtp_tls.json")
    r = client.get("/admin/tlsrpt")
    assert r.status_code == 200
    assert "Company-X" in r.text and "Example Inc." in r.text
    assert r.text.count("<svg") == 2
    assert "Company-X: 5326 successful, 303 failed" in r.text  # org chart tooltip
    assert "2016-04-01: 5326 successful, 303 failed" in r.text  # day chart tooltip
    r = client.get(f"/admin/tlsrpt/{rid}")
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert "5065427c-23d3-47ca-b6e0-946ea0e8c4be" in text
    assert "company-y.example" in text
    assert "<svg" in r.text
    assert "starttls-not-supported" in text or "certificate-expired" in text
    assert client.get("/admin/tlsrpt/9999").status_code == 404
    r = client.get("/admin/tlsrpt?domain=example.com")
    assert "Example Inc." in r.text and "Company-X" not in r.text


def test_dmarc_report_list_and_detail(client: TestClient, instance: Instance) -> None:
    path = TESTDATA / "dmarc" / "example.net!example.com!1529366400!1529452799.xml"
    report = parse_dmarc(path.read_bytes()).report
    with dmarcdb.open(instance.cfg.datadir.dmarcrpt_db) as db:
        rid = db.add(report, from_addr="noreply@example.net", to_rcpt="dmarc@x").id
    r = client.get("/admin/dmarc")
    assert r.status_code == 200
    assert "example.net" in r.text and r.text.count("<svg") == 2
    r = client.get(f"/admin/dmarc/{rid}")
    assert r.status_code == 200
    assert "b043f0e264cf4ea995e93765242f6dfb" in r.text
    assert "199.230.200.36" in r.text


def test_outgoing_results(client: TestClient, instance: Instance) -> None:
    from postel.mtastsdb.model import no_policy_result

    db = ResultDB.open(instance.cfg.datadir.tlsrptresult_db)
    try:
        db.add_attempt(
            AttemptResults("rcpt.example", domain_result=no_policy_result("rcpt.example")),
            send_report=True,
        )
    finally:
        db.close()
    r = client.get("/admin/tlsresults")
    assert r.status_code == 200
    assert "rcpt.example" in r.text
    assert "pending" in r.text


def test_suppression_list_add_and_remove(client: TestClient, instance: Instance) -> None:
    r = post(
        client,
        "/admin/suppressions",
        "/admin/suppressions/add",
        {"address": "Reports@Example.org", "days": "7", "comment": "bounces"},
    )
    assert "No TLS reports go to reports@example.org" in r.text
    assert "bounces" in r.text
    db = ResultDB.open(instance.cfg.datadir.tlsrptresult_db)
    try:
        assert db.is_suppressed("reports@example.org")
    finally:
        db.close()
    r = post(
        client,
        "/admin/suppressions",
        "/admin/suppressions/remove",
        {"address": "reports@example.org"},
    )
    assert "removed from the suppression list" in r.text
    r = post(client, "/admin/suppressions", "/admin/suppressions/add", {"address": "nope"})
    assert "Not added" in r.text


def test_mtasts_cache_page(client: TestClient, instance: Instance) -> None:
    now = dt.datetime.now(dt.UTC)
    text = "version: STSv1\nmode: enforce\nmx: mx.cached.example\nmax_age: 604800\n"
    db = MTASTSDB.open(instance.cfg.datadir.mtasts_db)
    try:
        db.put(
            CachedPolicy(
                "cached.example",
                now,
                now + dt.timedelta(days=7),
                now,
                now,
                False,
                "id1",
                parse_policy(text),
                text,
            )
        )
    finally:
        db.close()
    r = client.get("/admin/mtasts")
    assert "cached.example" in r.text and "mx.cached.example" in r.text and "enforce" in r.text


@pytest.fixture(params=["sqlite", "postgresql"])
def other_node(
    request: pytest.FixtureRequest, instance: Instance, tmp_path: Path
) -> Iterator[QueueEntries]:
    """The queue the admin pages act on, as another process sees it: the data
    directory's queue (SQLite), or on PostgreSQL the queue of all nodes, seen
    through another node's entry store; the instance's config names it."""
    if request.param == "sqlite":
        entries: QueueEntries = SQLiteQueueEntries(instance.cfg.datadir)
    else:
        from postel.pg.queue import PgQueueEntries
        from reportbackends import migrated

        cluster: Cluster = request.getfixturevalue("pg_cluster")
        database: str = request.getfixturevalue("pg_database")
        settings = migrated(cluster, database)
        config = instance.cfg.dir
        (config / "pgpassword").write_text(cluster.password + "\n")
        (config / "pgpassword").chmod(0o600)
        toml = config / "postel.toml"
        dsn = cluster.dsn(database, with_password=False)
        storage = (
            f'\n[storage]\nbackend = "postgresql"\ndsn = "{dsn}"\npassword_file = "pgpassword"\n'
        )
        toml.write_text(toml.read_text() + storage)
        instance.cfg = load_config(config)
        entries = PgQueueEntries(settings, tmp_path / "other-spool", node="other")
    try:
        yield entries
    finally:
        entries.close()


def queue_one(entries: QueueEntries, rcpt: str = "someone@remote.example") -> int:
    ids = entries.add(
        "you",
        "you@postel.localhost",
        [rcpt],
        b"From: you@postel.localhost\r\nSubject: hello\r\n\r\nhi\r\n",
    )
    return ids[0]


def test_queue_hold_release_retry_drop(instance: Instance, other_node: QueueEntries) -> None:
    """The admin sees and acts on the queue its server's store holds: on
    PostgreSQL the one all nodes share, with an entry another node queued."""
    eid = queue_one(other_node)
    with TestClient(instance.app(), follow_redirects=True) as client:
        assert login(client).status_code == 200
        r = client.get("/admin/queue")
        assert "someone@remote.example" in r.text and "hello" in r.text
        r = post(client, "/admin/queue", f"/admin/queue/{eid}/hold", {})
        assert f"Entry {eid} held" in r.text
        assert other_node.get(eid).hold
        r = post(client, "/admin/queue", f"/admin/queue/{eid}/retry", {})
        assert f"Entry {eid} will be delivered now" in r.text
        e = other_node.get(eid)
        assert not e.hold
        assert e.next_attempt <= dt.datetime.now(dt.UTC)
        r = post(client, "/admin/queue", f"/admin/queue/{eid}/drop", {})
        assert f"Entry {eid} dropped" in r.text
        assert other_node.entries() == []
        r = post(client, "/admin/queue", f"/admin/queue/{eid}/retry", {})
        assert f"No queue entry {eid}" in r.text


def test_charts_escape_labels() -> None:
    svg = str(org_chart([("<script>x</script>", 1, 2)], "t<"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    svg = str(day_chart([("2024-01-01", 0, 0)], "empty"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")


def _recent_tls_report(instance: Instance, policy_domain: str, kind: str) -> int:
    """A TLS report of yesterday with failed sessions on *policy_domain*."""
    import json

    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    raw = {
        "organization-name": "Sender Org",
        "date-range": {"start-datetime": f"{day}T00:00:00Z", "end-datetime": f"{day}T23:59:59Z"},
        "contact-info": "tls@sender.example",
        "report-id": f"findings-{policy_domain}",
        "policies": [
            {
                "policy": {"policy-type": kind, "policy-domain": policy_domain},
                "summary": {"total-successful-session-count": 9, "total-failure-session-count": 4},
                "failure-details": [
                    {"result-type": "validation-failure", "failure-reason-code": "dane-no-match",
                     "receiving-mx-hostname": "mail.postel.localhost", "failed-session-count": 4}
                ],
            }
        ],
    }  # fmt: skip
    report = parse_tlsrpt(json.dumps(raw).encode()).report
    with tlsrptdb.open(instance.cfg.datadir.tlsrpt_db) as db:
        return db.add(report, kind="host", to_rcpt="tls@mail.postel.localhost").id


def test_admin_home_shows_what_others_report(client: TestClient, instance: Instance) -> None:
    """Issue 20 item 4: a received TLS report with failures for our MX appears on the
    admin home, linked to the report and to the DNS check section that explains it."""
    r = client.get("/admin/")
    assert "Problems others report" not in r.text
    rid = _recent_tls_report(instance, "mail.postel.localhost", "tlsa")
    _recent_tls_report(instance, "not-ours.example", "sts")
    r = client.get("/admin/")
    assert r.status_code == 200
    text = html.unescape(r.text)
    assert "Problems others report" in text
    assert "tlsa mail.postel.localhost" in text and "validation-failure (dane-no-match)" in text
    assert "not-ours.example" not in text
    assert f'href="/admin/tlsrpt/{rid}"' in r.text
    assert 'href="/admin/domains/postel.localhost/check#tlsa-dane"' in r.text
    detail = client.get(f"/admin/tlsrpt/{rid}")
    assert 'href="/admin/domains/postel.localhost/check#tlsa-dane"' in detail.text


def test_dmarc_detail_links_unknown_failing_sources(client: TestClient, instance: Instance) -> None:
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date()
    begin = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    xml = f"""<?xml version="1.0"?>
<feedback>
  <report_metadata><org_name>Receiver</org_name><email>d@receiver.example</email>
    <report_id>find-1</report_id><date_range><begin>{begin}</begin><end>{begin + 86399}</end>
    </date_range></report_metadata>
  <policy_published><domain>postel.localhost</domain><adkim>r</adkim><aspf>r</aspf>
    <p>reject</p><sp>reject</sp><pct>100</pct></policy_published>
  <record><row><source_ip>203.0.113.77</source_ip><count>12</count><policy_evaluated>
    <disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>postel.localhost</header_from></identifiers>
    <auth_results><spf><domain>spoof.example</domain><result>fail</result></spf></auth_results>
  </record>
  <record><row><source_ip>198.51.100.8</source_ip><count>3</count><policy_evaluated>
    <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>postel.localhost</header_from></identifiers>
    <auth_results><spf><domain>postel.localhost</domain><result>pass</result></spf></auth_results>
  </record>
</feedback>"""
    report = parse_dmarc(xml.encode()).report
    with dmarcdb.open(instance.cfg.datadir.dmarcrpt_db) as db:
        rid = db.add(report, from_addr="noreply@receiver.example", to_rcpt="dmarc@x").id
    detail = client.get(f"/admin/dmarc/{rid}")
    assert detail.text.count("not a known sender") == 1
    assert 'href="/admin/domains/postel.localhost/check#spf"' in detail.text
    home = html.unescape(client.get("/admin/").text)
    assert "203.0.113.77" in home and "198.51.100.8" not in home
    check = client.get("/admin/domains/postel.localhost/check")
    assert 'id="spf"' in check.text and 'id="tlsa-dane"' in check.text


def test_outgoing_results_use_the_servers_connection(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the server's tlsrptresult.db connection at hand, the admin pages
    read and write through it and open none of their own."""
    from postel.mtastsdb.model import no_policy_result

    db = ResultDB.open(instance.cfg.datadir.tlsrptresult_db)
    opened: list[Path] = []
    real = ResultDB.open.__func__  # type: ignore[attr-defined]

    def counting(cls: type[ResultDB], path: Path, **kw: object) -> ResultDB:
        opened.append(path)
        return real(cls, path, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(ResultDB, "open", classmethod(counting))
    try:
        db.add_attempt(
            AttemptResults("rcpt.example", domain_result=no_policy_result("rcpt.example")),
            send_report=True,
        )
        with TestClient(instance.app(resultdb=db), follow_redirects=True) as c:
            assert login(c).status_code == 200
            r = c.get("/admin/tlsresults")
            assert r.status_code == 200 and "rcpt.example" in r.text
            r = post(
                c,
                "/admin/suppressions",
                "/admin/suppressions/add",
                {"address": "reports@example.org", "days": "7", "comment": ""},
            )
            assert r.status_code == 200
        assert db.is_suppressed("reports@example.org")
        assert opened == []
    finally:
        db.close()


def test_report_pages_read_what_the_nodes_share(
    instance: Instance, pg_cluster: Cluster, pg_database: str
) -> None:
    """Given the server's shared received reports and MTA-STS cache (the
    PostgreSQL store), the pages show what another node stored, and open no
    file of the data directory."""
    from postel.pg.mtastscache import PgMTASTSCache
    from postel.receivedreports import ReceivedReports
    from receivedbackends import migrated, pg_mtasts, pg_node

    settings = migrated(pg_cluster, pg_database)
    other, here = pg_node(settings), pg_node(settings)
    try:
        tls = parse_tlsrpt((TESTDATA / "tlsrpt" / "rfc8460.json").read_bytes()).report
        tid = other.tls.add(tls, to_rcpt="tls@x").id
        path = TESTDATA / "dmarc" / "example.net!example.com!1529366400!1529452799.xml"
        did = other.dmarc.add(parse_dmarc(path.read_bytes()).report, to_rcpt="dmarc@x").id
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        text = "version: STSv1\nmode: enforce\nmx: mx.shared.example\nmax_age: 604800\n"
        policy = parse_policy(text)
        week = now + dt.timedelta(days=7)
        row = CachedPolicy("shared.example", now, week, now, now, False, "id1", policy, text)
        pg_mtasts(other, "other").put(row)
        cache: PgMTASTSCache = pg_mtasts(here, "here")
        app = instance.app(received=ReceivedReports(here.tls, here.dmarc), mtastsdb=cache)
        with TestClient(app, follow_redirects=True) as c:
            assert login(c).status_code == 200
            assert "Company-X" in c.get("/admin/tlsrpt").text
            assert c.get(f"/admin/tlsrpt/{tid}").status_code == 200
            assert "example.net" in c.get("/admin/dmarc").text
            assert "b043f0e264cf4ea995e93765242f6dfb" in c.get(f"/admin/dmarc/{did}").text
            assert c.get("/admin/").status_code == 200
            assert "mx.shared.example" in c.get("/admin/mtasts").text
        dd = instance.cfg.datadir
        assert not any(p.exists() for p in (dd.tlsrpt_db, dd.dmarcrpt_db, dd.mtasts_db))
    finally:
        other.close()
        here.close()
