"""The recipient security bar never makes the server fetch from internal
addresses, and shows what went wrong without socket details."""

from __future__ import annotations

from pathlib import Path

from webmail_env import make_env

from postel.dns.mock import MockResolver


def test_policy_host_on_loopback_is_not_fetched(tmp_path: Path) -> None:
    # An attacker's domain points its MTA-STS policy host at a loopback service.
    resolver = MockResolver(
        {
            ("_mta-sts.attacker.example", "TXT"): ['"v=STSv1; id=1"'],
            ("mta-sts.attacker.example", "A"): ["127.0.0.9"],
            ("mta-sts.attacker.example", "AAAA"): [],
            ("attacker.example", "MX"): ["10 mx.attacker.example."],
            ("mx.attacker.example", "A"): ["192.0.2.25"],
            ("mx.attacker.example", "AAAA"): [],
        }
    )
    env = make_env(tmp_path, resolver)
    try:
        env.login()
        r = env.client.get(
            "/webmail/api/recipientsecurity", params={"address": "victim@attacker.example"}
        )
        assert r.status_code == 200
        body = r.json()
        detail = body["details"]["mtasts"]
        assert body["mtasts"] == "no"
        assert (
            "policy host mta-sts.attacker.example resolves only to internal addresses "
            "(127.0.0.9 is a loopback address), not fetched" in detail
        )
        assert "Errno" not in detail and "Connect call" not in detail
    finally:
        env.client.close()
        env.store.close()


class RaisingSTSDB:
    """An MTA-STS cache whose lookup fails with a socket error."""

    async def get(self, resolver: object, domain: str) -> object:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.9', 443)")


async def test_unexpected_lookup_error_text_not_shown() -> None:
    from postel.recipientsecurity import Value, evaluate_recipient

    # The domain exists (with no MX and no address it would be undeliverable,
    # whatever MTA-STS says).
    resolver = MockResolver(
        {("example.org", "MX"): ["10 mx.example.org."], ("mx.example.org", "A"): ["192.0.2.1"]}
    )
    rs = await evaluate_recipient(
        "a@example.org", resolver=resolver, memory=None, mtastsdb=RaisingSTSDB()
    )
    assert rs.mtasts.value is Value.ERROR
    assert "MTA-STS lookup failed" in rs.mtasts.detail
    assert "127.0.0.9" not in rs.mtasts.detail and "Connect call" not in rs.mtasts.detail
