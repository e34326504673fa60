"""The resolver interface every lookup in postel goes through."""

from __future__ import annotations

import abc
import ipaddress

import dns.reversename

from postel.dns.answer import Answer


class Resolver(abc.ABC):
    """Async DNS lookups with DNSSEC status.

    ``lookup`` follows CNAMEs and raises NotFound, TemporaryError or BogusError
    (all from postel.dns.errors).
    """

    @abc.abstractmethod
    async def lookup(self, name: str, rdtype: str) -> Answer: ...

    async def txt(self, name: str) -> Answer:
        return await self.lookup(name, "TXT")

    async def mx(self, name: str) -> Answer:
        return await self.lookup(name, "MX")

    async def a(self, name: str) -> Answer:
        return await self.lookup(name, "A")

    async def aaaa(self, name: str) -> Answer:
        return await self.lookup(name, "AAAA")

    async def tlsa(self, name: str) -> Answer:
        return await self.lookup(name, "TLSA")

    async def cname(self, name: str) -> Answer:
        """The CNAME record at ``name`` itself (not followed)."""
        return await self.lookup(name, "CNAME")

    async def ptr(self, address: str) -> Answer:
        """Reverse lookup of an IPv4/IPv6 address."""
        ip = ipaddress.ip_address(address)
        return await self.lookup(dns.reversename.from_address(str(ip)).to_text(), "PTR")
