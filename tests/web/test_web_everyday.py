"""Issue 22 in the admin: a deep link survives the login, unknown URLs get the
admin's own "not found" page, empty charts say "No data yet", and the DNS
records table wraps its long values. The browser side is in
tests/integration/test_webmail_everyday_playwright.py."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from webtestlib import DOMAIN, Instance, csrf_of, login

from postel.web.admin.charts import NO_DATA, day_chart, org_chart
from postel.web.loginflow import safe_next


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/admin/domains?x=1", "/admin/domains?x=1"),
        ("/admin/tlsrpt/3", "/admin/tlsrpt/3"),
        ("", "/admin/"),
        ("https://evil.example/admin/", "/admin/"),
        ("//evil.example/admin/", "/admin/"),
        ("/admin//evil.example", "/admin//evil.example"),
        ("/webmail/", "/admin/"),
        ("/admin/../webmail/", "/admin/"),
        ("/admin/%2E%2E/webmail/", "/admin/"),
        ("/admin/\\evil", "/admin/"),
        ("/admin/x\r\nSet-Cookie: a=b", "/admin/"),
        ("/admin/login", "/admin/"),
        ("/admin/logout", "/admin/"),
        ("/admin/" + "a" * 3000, "/admin/"),
    ],
)
def test_safe_next(value: str, expected: str) -> None:
    assert safe_next(value, "/admin") == expected


def test_admin_login_returns_to_the_deep_link(instance: Instance) -> None:
    with TestClient(instance.app(), follow_redirects=False) as c:
        r = c.get(f"/admin/domains/{DOMAIN}/dns")
        assert r.status_code == 303
        form = c.get(r.headers["location"])
        assert f'name="next" value="/admin/domains/{DOMAIN}/dns"' in form.text
        r = c.post(
            "/admin/login",
            data={
                "csrf": csrf_of(form.text),
                "password": "postelpostel",
                "next": f"/admin/domains/{DOMAIN}/dns",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == f"/admin/domains/{DOMAIN}/dns"


def test_unknown_admin_url_is_a_styled_404(instance: Instance) -> None:
    with TestClient(instance.app(), follow_redirects=True) as c:
        # Not logged in: the login page, as for every admin URL (nothing is revealed).
        r = c.get("/admin/no/such/page")
        assert r.url.path == "/admin/login"
        login(c)
        r = c.get("/admin/no/such/page")
        assert r.status_code == 404
        assert '<link rel="stylesheet" href="/static/admin.css">' in r.text
        assert "<h1>Not found</h1>" in r.text and "/admin/no/such/page" in r.text
        assert "Log out" in r.text  # the admin's header and navigation


def test_empty_charts_say_no_data_without_axes() -> None:
    for chart in (
        day_chart([], "Per day"),
        org_chart([], "Per org"),
        org_chart([("DMARC", 0, 0)], "Zero"),
    ):
        assert NO_DATA in chart
        assert "<line" not in chart and "<rect" not in chart
        assert 'class="chart empty"' in chart
    full = day_chart([("2026-01-01", 3, 1)], "Per day")
    assert NO_DATA not in full and "<line" in full


def test_tls_report_list_without_reports_says_no_data(instance: Instance) -> None:
    with TestClient(instance.app(), follow_redirects=True) as c:
        login(c)
        for path in ("/admin/tlsrpt", "/admin/dmarc"):
            text = c.get(path).text
            assert text.count('class="chart empty"') == 2 and NO_DATA in text, path


def test_dns_records_table_wraps_long_values(instance: Instance) -> None:
    with TestClient(instance.app(), follow_redirects=True) as c:
        login(c)
        text = c.get(f"/admin/domains/{DOMAIN}/dns").text
        assert '<table class="records">' in text
        assert "p=MIIB" in text  # the RSA DKIM key that used to widen the page
