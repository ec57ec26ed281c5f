"""Host name → address, shared by the connector (where we connect) and the scheduler (per-IP limits).

``--resolve 'PATTERN=ADDR[:PORT]'`` rules come first, tried in order, like curl's ``--connect-to``: the
URL and Host header are unchanged, only the socket goes elsewhere. Everything else goes to DNS
(aiodns; ``--nameserver`` to choose servers). An address that is loopback, private or link-local is
refused unless a rule pinned it or the host is explicitly allowed: a tampered page must not turn the
crawler against the operator's own network.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from crawler.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ResolveRule:
    pattern: str  # host name, fnmatch wildcards allowed (`*.example.gov.cn`)
    addr: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> ResolveRule:
        pattern, sep, target = text.partition("=")
        if not sep or not pattern.strip() or not target.strip():
            raise ConfigError(f"--resolve {text!r}: expected PATTERN=ADDR[:PORT]")
        addr, port = _split_addr_port(target.strip(), f"--resolve {text!r}")
        return cls(pattern.strip().lower(), addr, port)

    def matches(self, host: str) -> bool:
        return fnmatch.fnmatchcase(host, self.pattern)


def _split_addr_port(text: str, where: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [::1]:8080
        addr, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        addr, port_text = text.split(":")
    else:
        addr, port_text = text, ""
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise ConfigError(f"{where}: {addr!r} is not an IP address") from None
    if not port_text:
        return addr, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{where}: {port_text!r} is not a port")
    return addr, int(port_text)


def parse_nameserver(text: str) -> str:
    """Validate ``IP[:PORT]`` and return it in the form c-ares accepts."""
    addr, port = _split_addr_port(text.strip(), f"--nameserver {text!r}")
    if port is None:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class PrivateAddressError(OSError):
    """The host resolves to an address we must not connect to."""


def is_private(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified \
        or ip.is_multicast


@dataclass(frozen=True, slots=True)
class Lookup:
    addrs: tuple[tuple[str, int], ...]  # (address, port) in connection order; empty on failure
    pinned: bool  # came from a --resolve rule
    error: str = ""  # DNS failure text, or why the address is refused

    @property
    def ip_key(self) -> str | None:
        return self.addrs[0][0] if self.addrs else None


class Resolver(AbstractResolver):
    def __init__(self, rules: tuple[ResolveRule, ...] = (), nameservers: tuple[str, ...] = (),
                 allow_private: tuple[str, ...] = ()) -> None:
        self.rules = rules
        self.allow_private = tuple(p.lower() for p in allow_private)
        self._nameservers = [parse_nameserver(n) for n in nameservers]
        self._dns: aiohttp.AsyncResolver | None = None
        self._cache: dict[tuple[str, int], Lookup] = {}

    @classmethod
    def from_settings(cls, resolve: tuple[str, ...], nameservers: tuple[str, ...],
                      allow_private: tuple[str, ...]) -> Resolver:
        return cls(tuple(ResolveRule.parse(r) for r in resolve), nameservers, allow_private)

    def _dns_resolver(self) -> aiohttp.AsyncResolver:
        if self._dns is None:
            self._dns = (aiohttp.AsyncResolver(nameservers=self._nameservers) if self._nameservers
                         else aiohttp.AsyncResolver())
        return self._dns

    async def lookup(self, host: str, port: int) -> Lookup:
        """Cached for the run: one host keeps one address, so its per-IP slot stays stable."""
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result = await self._lookup(host, port)
        self._cache[key] = result
        return result

    async def _lookup(self, host: str, port: int) -> Lookup:
        for rule in self.rules:
            if rule.matches(host):
                return Lookup(((rule.addr, rule.port or port),), pinned=True)
        try:
            ipaddress.ip_address(host)
            addrs: tuple[tuple[str, int], ...] = ((host, port),)
        except ValueError:
            try:
                found = await self._dns_resolver().resolve(host, port, socket.AF_INET)
            except OSError as exc:
                return Lookup((), pinned=False, error=exc.strerror or str(exc) or "DNS lookup failed")
            addrs = tuple((r["host"], r["port"]) for r in found)
        allowed = any(fnmatch.fnmatchcase(host, p) for p in self.allow_private)
        if not allowed and any(is_private(a) for a, _ in addrs):
            return Lookup(addrs, pinned=False, error=f"resolves to non-public address {addrs[0][0]}")
        return Lookup(addrs, pinned=False)

    def check_literal(self, host: str) -> None:
        """aiohttp never asks a resolver about IP-literal hosts, so we must: raise if one is refused."""
        if not (host[:1].isdigit() or ":" in host or host.startswith("[")):
            return  # a host name (an IP literal starts with a digit or is IPv6): no exception to pay for
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return
        if any(rule.matches(host) for rule in self.rules):
            return
        if is_private(host.strip("[]")) and not any(fnmatch.fnmatchcase(host, p) for p in self.allow_private):
            raise PrivateAddressError(None, f"{host} is a non-public address")

    def refuses(self, lookup: Lookup) -> bool:
        return bool(lookup.addrs) and bool(lookup.error)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        lookup = await self.lookup(host, port)
        if self.refuses(lookup):
            raise PrivateAddressError(None, lookup.error)
        if not lookup.addrs:
            raise OSError(None, lookup.error)
        return [ResolveResult(hostname=host, host=addr, port=p, family=socket.AF_INET6 if ":" in addr
                              else socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)
                for addr, p in lookup.addrs]

    async def close(self) -> None:
        if self._dns is not None:
            await self._dns.close()
            self._dns = None
