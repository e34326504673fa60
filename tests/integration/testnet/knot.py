"""Knot DNS as the authoritative server of the `test.` TLD and its child zones."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.DS
import dns.rdtypes.ANY.SOA

from .procs import Process, run

TLD = "test."
MODES = ("signed", "unsigned", "bogus")
TTL = 30
NEGATIVE_TTL = 5


@dataclass
class Zone:
    name: str  # absolute, lower case
    records: list[str]
    dnssec: str
    serial: int = 0
    ds: list[str] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return self.dnssec in ("signed", "bogus")


class Knot:
    def __init__(self, workdir: Path, ip: str) -> None:
        self.dir = workdir / "knot"
        self.dir.mkdir()
        (self.dir / "zones").mkdir()
        (self.dir / "db").mkdir()
        self.ip = ip
        self.conf = self.dir / "knot.conf"
        self.zones: dict[str, Zone] = {}
        self._serial = int(time.time())
        self.process: Process | None = None

    # configuration and zone files

    def _next_serial(self) -> int:
        # Knot may add to the serial when it signs; stay well ahead of it.
        self._serial += 1000
        return self._serial

    def _write_conf(self) -> None:
        zones = [f"  - domain: {TLD}\n    template: signed\n"]
        for z in sorted(self.zones.values(), key=lambda z: z.name):
            zones.append(
                f"  - domain: {z.name}\n    template: {'signed' if z.signed else 'default'}\n"
            )
        text = f"""server:
  rundir: "{self.dir}"
  user: root:root
  listen: {self.ip}@53
  pidfile: "{self.dir}/knot.pid"

control:
  listen: "{self.dir}/knot.sock"

log:
  - target: stdout
    any: info

database:
  storage: "{self.dir}/db"

policy:
  - id: ecdsa
    algorithm: ecdsap256sha256
    ksk-lifetime: 0
    zsk-lifetime: 0
    dnskey-ttl: {TTL}
    zone-max-ttl: {TTL}
    propagation-delay: 0

template:
  - id: default
    storage: "{self.dir}/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
  - id: signed
    storage: "{self.dir}/zones"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
    dnssec-signing: on
    dnssec-policy: ecdsa

zone:
{"".join(zones)}"""
        self.conf.write_text(text)

    def _zone_file(self, name: str) -> Path:
        return self.dir / "zones" / f"{name}zone"

    def _soa(self, serial: int) -> str:
        return f"@ SOA ns.{TLD} hostmaster.{TLD} {serial} 60 60 600 {NEGATIVE_TTL}"

    def _write_child(self, z: Zone) -> None:
        z.serial = self._next_serial()
        lines = [f"$ORIGIN {z.name}", f"$TTL {TTL}", self._soa(z.serial), f"@ NS ns.{TLD}"]
        lines += z.records
        self._zone_file(z.name).write_text("\n".join(lines) + "\n")

    def _write_tld(self) -> int:
        serial = self._next_serial()
        lines = [
            f"$ORIGIN {TLD}",
            f"$TTL {TTL}",
            self._soa(serial),
            f"@ NS ns.{TLD}",
            f"ns A {self.ip}",
        ]
        for z in sorted(self.zones.values(), key=lambda z: z.name):
            lines.append(f"{z.name} NS ns.{TLD}")
            lines += [f"{z.name} DS {ds}" for ds in z.ds]
        self._zone_file(TLD).write_text("\n".join(lines) + "\n")
        return serial

    # process

    def start(self, zones: list[Zone], timeout: float = 20.0) -> None:
        for z in zones:
            self.zones[z.name] = z
            self._write_child(z)
        tld_serial = self._write_tld()
        self._write_conf()
        self.process = Process(
            "knotd", ["knotd", "-c", str(self.conf)], self.dir / "knotd.log", self.dir
        )
        deadline = time.monotonic() + timeout
        self.wait_serial(TLD, tld_serial, deadline)
        for z in zones:
            self.wait_serial(z.name, z.serial, deadline)
        for z in zones:
            if z.signed:
                z.ds = self._ds_for(z, deadline)
        self.wait_serial(TLD, self._reload_tld(), deadline)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def knotc(self, *args: str) -> str:
        return run(["knotc", "-c", str(self.conf), "-t", "15", *args])

    # queries straight to knot

    def query(self, name: str, rdtype: str, timeout: float = 1.0) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, want_dnssec=True)
        q.flags &= ~dns.flags.RD
        return dns.query.udp(q, self.ip, timeout=timeout)

    def serial(self, zone: str) -> int | None:
        try:
            r = self.query(zone, "SOA")
        except Exception:
            return None
        if r.rcode() != dns.rcode.NOERROR:
            return None
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                rd = rrset[0]
                assert isinstance(rd, dns.rdtypes.ANY.SOA.SOA)
                return int(rd.serial)
        return None

    def wait_serial(self, zone: str, serial: int, deadline: float) -> None:
        """Until knot serves ``zone`` with at least ``serial``."""
        while True:
            have = self.serial(zone)
            if have is not None and have >= serial:
                return
            if self.process is not None and not self.process.alive():
                raise RuntimeError(f"knotd exited:\n{self.process.tail()}")
            if time.monotonic() > deadline:
                tail = self.process.tail() if self.process else ""
                raise RuntimeError(
                    f"knot did not serve {zone} serial {serial} in time (has {have}):\n{tail}"
                )
            time.sleep(0.05)

    def dnskeys(self, zone: str) -> list[dns.rdtypes.ANY.DNSKEY.DNSKEY]:
        r = self.query(zone, "DNSKEY")
        keys: list[dns.rdtypes.ANY.DNSKEY.DNSKEY] = []
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.DNSKEY:
                keys += [rd for rd in rrset if isinstance(rd, dns.rdtypes.ANY.DNSKEY.DNSKEY)]
        return keys

    def _ds_for(self, z: Zone, deadline: float) -> list[str]:
        """DS (SHA-256) of the zone's KSKs; for "bogus" with a corrupted digest."""
        while True:
            ksks = [k for k in self.dnskeys(z.name) if k.flags & 0x0001]
            if ksks:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"knot did not publish a KSK for {z.name}")
            time.sleep(0.05)
        out = []
        for k in ksks:
            ds = dns.dnssec.make_ds(z.name, k, "SHA256")
            assert isinstance(ds, dns.rdtypes.ANY.DS.DS)
            digest = ds.digest
            if z.dnssec == "bogus":
                digest = bytes(b ^ 0xFF for b in digest)
            out.append(f"{ds.key_tag} {ds.algorithm} {ds.digest_type} {digest.hex()}")
        return out

    def trust_anchor(self) -> list[str]:
        """DS records of `test.` in presentation form, for the resolver."""
        return [
            f"{TLD} DS {dns.dnssec.make_ds(TLD, k, 'SHA256').to_text()}"
            for k in self.dnskeys(TLD)
            if k.flags & 0x0001
        ]

    def _reload_tld(self) -> int:
        serial = self._write_tld()
        self.knotc("zone-reload", TLD)
        return serial

    # changes while running

    def set_zone(self, z: Zone, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        old = self.zones.get(z.name)
        self.zones[z.name] = z
        self._write_child(z)
        if old is None or old.signed != z.signed:
            self._write_conf()
            self.knotc("reload")
            if old is not None:
                self.knotc("zone-reload", z.name)
        else:
            self.knotc("zone-reload", z.name)
        self.wait_serial(z.name, z.serial, deadline)
        z.ds = self._ds_for(z, deadline) if z.signed else []
        if old is not None and old.signed and not z.signed:
            # Knot must have dropped the signatures.
            while self.dnskeys(z.name):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"knot still signs {z.name}")
                self.knotc("zone-reload", z.name)
                time.sleep(0.1)
        self.wait_serial(TLD, self._reload_tld(), deadline)

    def remove_zone(self, name: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        if self.zones.pop(name, None) is None:
            raise KeyError(name)
        self.wait_serial(TLD, self._reload_tld(), deadline)
        self._write_conf()
        self.knotc("reload")
