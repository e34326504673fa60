"""The resolver commands ask the resolver postel.toml names, and the parse
commands read ``-`` as standard input.

Two DNS stubs on 127.0.0.1 answer with their own tag, so each test sees which
resolver a command asked; the system's resolvers are replaced by 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from click.testing import CliRunner

from postel.cli.main import cli

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata"
TLSA_HEX = "ab" * 32


@dataclass
class Stub:
    """An authoritative-looking DNS server on 127.0.0.1 that sets the AD bit."""

    tag: str
    sock: socket.socket = field(init=False)
    asked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def records(self, name: str) -> dict[str, str]:
        return {
            "_smtp._tls.example.test.": {
                "TXT": f'"v=TLSRPTv1; rua=mailto:{self.tag}@example.test"'
            },
            "_mta-sts.example.test.": {"TXT": f'"v=STSv1; id={self.tag}"'},
            "mta-sts.example.test.": {"A": "127.0.0.1"},
            "mx.example.test.": {"A": "127.0.0.1"},
            "_25._tcp.mx.example.test.": {"TLSA": f"3 1 1 {TLSA_HEX}"},
            ".": {"SOA": f"a.root. {self.tag}.root. 1 2 3 4 5"},
        }.get(name, {})

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AD  # RFC 4035 §3.2.3: "validated"
        q = query.question[0]
        name, rdtype = q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype)
        self.asked.append(f"{name} {rdtype}")
        records = self.records(name)
        if not records:
            resp.set_rcode(dns.rcode.NXDOMAIN)
        elif rdtype in records:
            resp.answer.append(dns.rrset.from_text(q.name, 60, "IN", rdtype, records[rdtype]))
        return resp

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
                self.sock.sendto(self.answer(dns.message.from_wire(data)).to_wire(), addr)
            except (TimeoutError, dns.exception.DNSException):
                continue


@pytest.fixture(autouse=True)
def no_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a command does, /etc/resolv.conf's resolvers are never asked: a
    fallback to them goes to 127.0.0.1 port 53 here instead."""
    import postel.dns.resolver

    monkeypatch.setattr(postel.dns.resolver, "system_nameservers", lambda: ["127.0.0.1"])


@pytest.fixture
def stubs() -> Iterator[tuple[Stub, Stub]]:
    stop = threading.Event()
    pair = (Stub("configured"), Stub("given"))
    threads = [threading.Thread(target=s.serve, args=(stop,), daemon=True) for s in pair]
    for t in threads:
        t.start()
    yield pair
    stop.set()
    for t, s in zip(threads, pair, strict=True):
        t.join(5)
        s.sock.close()


def write_config(directory: Path, stub: Stub) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "postel.toml").write_text(
        'hostname = "mail.example.test"\npostmaster_account = "pm"\n\n'
        f'[dns]\nnameservers = ["127.0.0.1"]\nport = {stub.port}\ntimeout = 2.0\n'
    )
    return directory


def test_tlsrpt_lookup_asks_the_configured_resolver(
    tmp_path: Path, stubs: tuple[Stub, Stub]
) -> None:
    configured, _ = stubs
    config = write_config(tmp_path / "config", configured)
    done = CliRunner().invoke(cli, ["tlsrpt", "lookup", "example.test", "--config", str(config)])
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["rua"] == ["mailto:configured@example.test"]
    assert configured.asked == ["_smtp._tls.example.test. TXT"]


def test_nameserver_option_wins_over_the_config(tmp_path: Path, stubs: tuple[Stub, Stub]) -> None:
    configured, given = stubs
    config = write_config(tmp_path / "config", configured)
    done = CliRunner().invoke(
        cli,
        [
            "tlsrpt",
            "lookup",
            "example.test",
            "--config",
            str(config),
            "--nameserver",
            "127.0.0.1",
            "--port",
            str(given.port),
        ],
    )
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["rua"] == ["mailto:given@example.test"]
    assert configured.asked == []


def test_postel_config_environment_names_the_config(
    tmp_path: Path, stubs: tuple[Stub, Stub]
) -> None:
    configured, _ = stubs
    config = write_config(tmp_path / "elsewhere", configured)
    done = CliRunner().invoke(
        cli, ["tlsrpt", "lookup", "example.test"], env={"POSTEL_CONFIG": str(config)}
    )
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["rua"] == ["mailto:configured@example.test"]


def test_check_resolver_checks_the_configured_resolver(
    tmp_path: Path, stubs: tuple[Stub, Stub]
) -> None:
    configured, _ = stubs
    config = write_config(tmp_path / "config", configured)
    done = CliRunner().invoke(cli, ["dns", "check-resolver", "--config", str(config)])
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("127.0.0.1: resolver validates DNSSEC: . SOA came back")
    assert configured.asked == [". SOA", "dnssec-failed.org. A"]


def test_dns_lookup_uses_the_config(tmp_path: Path, stubs: tuple[Stub, Stub]) -> None:
    configured, _ = stubs
    config = write_config(tmp_path / "config", configured)
    done = CliRunner().invoke(
        cli, ["dns", "lookup", "--config", str(config), "_mta-sts.example.test", "TXT"]
    )
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["records"] == ['"v=STSv1; id=configured"']


def test_dane_lookup_asks_the_configured_resolver(tmp_path: Path, stubs: tuple[Stub, Stub]) -> None:
    configured, _ = stubs
    config = write_config(tmp_path / "config", configured)
    done = CliRunner().invoke(cli, ["dane", "lookup", "mx.example.test", "--config", str(config)])
    assert done.exit_code == 0, done.stderr
    out = json.loads(done.stdout)
    assert [r["text"] for r in out["records"]] == [f"3 1 1 {TLSA_HEX}"]
    assert out["dane_applies"] is True
    assert "_25._tcp.mx.example.test. TLSA" in configured.asked


def test_mtasts_lookup_asks_the_configured_resolver(
    tmp_path: Path, stubs: tuple[Stub, Stub]
) -> None:
    configured, _ = stubs
    config = write_config(tmp_path / "config", configured)
    with socket.socket() as closed:  # no policy server: the fetch fails at once
        closed.bind(("127.0.0.1", 0))
        https_port = closed.getsockname()[1]
    done = CliRunner().invoke(
        cli,
        [
            "mtasts",
            "lookup",
            "example.test",
            "--config",
            str(config),
            "--https-port",
            str(https_port),
            "--timeout",
            "5",
        ],
    )
    out = json.loads(done.stdout)
    assert out["record"]["id"] == "configured", out
    assert "_mta-sts.example.test. TXT" in configured.asked


def test_missing_config_is_one_line(tmp_path: Path) -> None:
    done = CliRunner().invoke(cli, ["dns", "check-resolver", "--config", str(tmp_path / "no")])
    assert done.exit_code == 1
    assert done.stderr == (
        f"error: {tmp_path / 'no'}: no such configuration directory; create one with "
        "`postel quickstart`, or name yours with --config DIR or $POSTEL_CONFIG\n"
    )


@pytest.mark.parametrize(
    ("argv", "sample", "key"),
    [
        (["tlsrpt", "parse", "-"], "tlsrpt/rfc8460.json", "report-id"),
        (
            ["dmarc", "parse", "-"],
            "dmarc/example.net!example.com!1529366400!1529452799.xml",
            "report_metadata",
        ),
    ],
)
def test_parse_reads_stdin(argv: list[str], sample: str, key: str) -> None:
    data = (TESTDATA / sample).read_bytes()
    from_file = CliRunner().invoke(cli, [*argv[:-1], str(TESTDATA / sample)])
    from_stdin = CliRunner().invoke(cli, argv, input=data)
    assert from_stdin.exit_code == 0, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout
    assert key in json.loads(from_stdin.stdout)


def test_parse_stdin_errors_name_stdin() -> None:
    done = CliRunner().invoke(cli, ["tlsrpt", "parse", "-"], input=b"{")
    assert done.exit_code == 1
    assert done.stderr.startswith("error: <stdin>: ")


def test_mtasts_parse_reads_stdin() -> None:
    policy = b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n"
    done = CliRunner().invoke(cli, ["mtasts", "parse", "-"], input=policy)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["mx"] == ["mx.example.test"]
    record = CliRunner().invoke(cli, ["mtasts", "parse", "--record", "-"], input=b"v=STSv1; id=7\n")
    assert record.exit_code == 0, record.stderr
    assert json.loads(record.stdout)["id"] == "7"
