"""Report pages: received TLS and DMARC reports with charts, outgoing TLS results,
suppression list, MTA-STS cache, queue actions."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from starlette.testclient import TestClient
from webtestlib import Instance, post

from postel import dmarcdb, tlsrptdb
from postel.dmarcrpt import parse_report as parse_dmarc
from postel.mtasts.policy import parse_policy
from postel.mtastsdb import MTASTSDB, CachedPolicy
from postel.queue.db import QueueDB
from postel.tlsrpt import parse_report as parse_tlsrpt
from postel.tlsrptresultdb.db import ResultDB
from postel.tlsrptresultdb.record import AttemptResults
from postel.web.admin.charts import day_chart, org_chart

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"


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
    r = post(client, "/admin/suppressions", "/admin/suppressions/add",
             {"address": "Reports@Example.org", "days": "7", "comment": "bounces"})
    assert "No TLS reports go to reports@example.org" in r.text
    assert "bounces" in r.text
    db = ResultDB.open(instance.cfg.datadir.tlsrptresult_db)
    try:
        assert db.is_suppressed("reports@example.org")
    finally:
        db.close()
    r = post(client, "/admin/suppressions", "/admin/suppressions/remove",
             {"address": "reports@example.org"})
    assert "removed from the suppression list" in r.text
    r = post(client, "/admin/suppressions", "/admin/suppressions/add", {"address": "nope"})
    assert "Not added" in r.text


def test_mtasts_cache_page(client: TestClient, instance: Instance) -> None:
    now = dt.datetime.now(dt.UTC)
    text = "version: STSv1\nmode: enforce\nmx: mx.cached.example\nmax_age: 604800\n"
    db = MTASTSDB.open(instance.cfg.datadir.mtasts_db)
    try:
        db.put(CachedPolicy("cached.example", now, now + dt.timedelta(days=7), now, now, False,
                            "id1", parse_policy(text), text))
    finally:
        db.close()
    r = client.get("/admin/mtasts")
    assert "cached.example" in r.text and "mx.cached.example" in r.text and "enforce" in r.text


def queue_one(instance: Instance, rcpt: str = "someone@remote.example") -> int:
    db = QueueDB.open(instance.cfg.datadir)
    try:
        ids = db.add(
            b"From: you@postel.localhost\r\nSubject: hello\r\n\r\nhi\r\n",
            account="you", mail_from="you@postel.localhost", rcpts=[rcpt],
            requiretls=False, tls_required_no=False, is_tlsrpt=False, is_dmarc_report=False,
            smtputf8=False, eightbit=False, max_attempts=10,
            now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), subject="hello",
        )
    finally:
        db.close()
    return ids[0]


def entry(instance: Instance, entry_id: int) -> object:
    db = QueueDB.open(instance.cfg.datadir)
    try:
        return db.get(entry_id)
    finally:
        db.close()


def test_queue_hold_release_retry_drop(client: TestClient, instance: Instance) -> None:
    eid = queue_one(instance)
    r = client.get("/admin/queue")
    assert "someone@remote.example" in r.text and "hello" in r.text
    r = post(client, "/admin/queue", f"/admin/queue/{eid}/hold", {})
    assert f"Entry {eid} held" in r.text
    assert entry(instance, eid).hold  # type: ignore[attr-defined]
    r = post(client, "/admin/queue", f"/admin/queue/{eid}/retry", {})
    assert f"Entry {eid} will be delivered now" in r.text
    e = entry(instance, eid)
    assert not e.hold  # type: ignore[attr-defined]
    assert e.next_attempt <= dt.datetime.now(dt.UTC)  # type: ignore[attr-defined]
    r = post(client, "/admin/queue", f"/admin/queue/{eid}/drop", {})
    assert f"Entry {eid} dropped" in r.text
    r = post(client, "/admin/queue", f"/admin/queue/{eid}/retry", {})
    assert f"No queue entry {eid}" in r.text


def test_charts_escape_labels() -> None:
    svg = str(org_chart([("<script>x</script>", 1, 2)], "t<"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    svg = str(day_chart([("2024-01-01", 0, 0)], "empty"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
