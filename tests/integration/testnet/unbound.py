"""unbound as the validating resolver, trusting the private `test.` key."""

from __future__ import annotations

import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode

from .knot import TLD
from .procs import Process, run


class Unbound:
    def __init__(self, workdir: Path, ip: str, knot_ip: str) -> None:
        self.dir = workdir / "unbound"
        self.dir.mkdir()
        self.ip = ip
        self.knot_ip = knot_ip
        self.conf = self.dir / "unbound.conf"
        self.process: Process | None = None

    def _write_conf(self, trust_anchors: list[str]) -> None:
        anchors = "".join(f'  trust-anchor: "{ta}"\n' for ta in trust_anchors)
        self.conf.write_text(
            f"""server:
  interface: {self.ip}
  port: 53
  do-ip6: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 1
  log-servfail: yes
  val-log-level: 2
  num-threads: 1
  outgoing-range: 64
  so-reuseport: no
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  auto-trust-anchor-file: ""
{anchors}  local-zone: "{TLD}" nodefault
  ede: yes
  ede-serve-expired: no
  cache-max-ttl: 10
  cache-max-negative-ttl: 2
  val-bogus-ttl: 1
  infra-host-ttl: 5
  serve-expired: no
  prefetch: no
  qname-minimisation: no
  harden-referral-path: no
  minimal-responses: yes
stub-zone:
  name: "{TLD}"
  stub-addr: {self.knot_ip}
remote-control:
  control-enable: yes
  control-interface: "{self.dir}/unbound.ctl"
  control-use-cert: no
"""
        )

    def start(self, trust_anchors: list[str], timeout: float = 20.0) -> None:
        self._write_conf(trust_anchors)
        run(["unbound-checkconf", str(self.conf)])
        self.process = Process(
            "unbound", ["unbound", "-d", "-c", str(self.conf)], self.dir / "unbound.log", self.dir
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                q = dns.message.make_query(TLD, "SOA", want_dnssec=True)
                r = dns.query.udp(q, self.ip, timeout=1)
                if r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AD:
                    return
                problem = (
                    f"rcode {dns.rcode.to_text(r.rcode())}, flags {dns.flags.to_text(r.flags)}"
                )
            except Exception as e:
                problem = f"{type(e).__name__}: {e}"
            if not self.process.alive():
                raise RuntimeError(f"unbound exited:\n{self.process.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"unbound did not answer {TLD} SOA authentic in time ({problem}):\n"
                    f"{self.process.tail()}"
                )
            time.sleep(0.05)

    def control(self, *args: str) -> str:
        return run(["unbound-control", "-c", str(self.conf), *args])

    def flush(self, zone: str = TLD) -> None:
        """Forget everything cached at or below ``zone`` (RRsets, keys, bogus and
        negative data, server state)."""
        self.control("flush_zone", zone)
        self.control("flush_bogus")
        self.control("flush_negative")
        self.control("flush_infra", "all")
        self.control("flush_requestlist")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
