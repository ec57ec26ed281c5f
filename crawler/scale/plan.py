"""Planning a shared run: which worker-sized pieces it is cut into, keyed by server IP address.

Politeness limits hold per host and per server IP. Giving each IP to one worker at a time (one
lease per IP, or per set of IPs that sites share) keeps those limits whole across the fleet
without any coordination between workers beyond the lease table.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg
import orjson
from yarl import URL

from crawler.config import Settings, load_settings
from crawler.fetch.resolver import Resolver
from crawler.frontier.frontier import Edge
from crawler.frontier.urls import host_key, looks_like_trap
from crawler.scale.leases import Lease, LeaseLost, Phase, Target, complete
from crawler.types import Element, Site

_LOOKUPS_IN_FLIGHT = 32
# Process-local settings: each worker brings its own; the rest come from the run (one fleet, one policy).
_LOCAL_SETTINGS = ("dsn", "data_dir", "out", "metrics_port", "pushgateway")


@dataclass(frozen=True, slots=True)
class Group:
    """Work for one lease: everything behind one set of server addresses."""

    key: str  # the addresses, sorted, comma-separated; "host:<host>" for a name that did not resolve
    members: tuple[str, ...]  # site codes (phase 1) or target URLs (phase 3)


async def plan_run(dsn: str, settings: Settings, sites: Sequence[Site], kind: str) -> int:
    """Open a run for a fleet of workers and cut it into leases; returns the run id."""
    groups = await group_sites(settings, sites)
    weights = {site.code: 1 for site in sites}
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            # Work tables of runs that ended (or were marked stale) are of no further use.
            await conn.execute("DELETE FROM run_edges WHERE run_id IN (SELECT id FROM runs WHERE status <> 'running')")
            run_id = await conn.fetchval(
                "INSERT INTO runs (kind, settings, worker) VALUES ($1, $2::jsonb, $3) RETURNING id",
                kind, orjson.dumps(settings.snapshot(), default=str).decode(),
                f"fleet:{socket.gethostname()}:{os.getpid()}")
            await conn.executemany(
                "INSERT INTO run_leases (run_id, phase, key, sites, weight) VALUES ($1, $2, $3, $4, $5)",
                [(run_id, Phase.SITES, g.key, list(g.members), sum(weights[c] for c in g.members))
                 for g in groups])
            await conn.executemany(
                "INSERT INTO run_leases (run_id, phase, key) VALUES ($1, $2, $3)",
                [(run_id, Phase.PLAN, "plan"), (run_id, Phase.FINALIZE, "finalize")])
    finally:
        await conn.close()
    return int(run_id)


async def settings_of_run(dsn: str, run_id: int) -> Settings:
    """The settings the run was planned with, with this process's DSN (every worker crawls alike)."""
    conn = await asyncpg.connect(dsn)
    try:
        raw = await conn.fetchval("SELECT settings FROM runs WHERE id = $1", run_id)
    finally:
        await conn.close()
    if raw is None:
        raise LookupError(f"run {run_id} does not exist")
    values = {k: v for k, v in orjson.loads(raw).items() if k not in _LOCAL_SETTINGS}
    return load_settings(None, env={}, overrides={**values, "dsn": dsn})


async def group_sites(settings: Settings, sites: Sequence[Site]) -> list[Group]:
    """Sites grouped so that no two groups share a server address (any host of a site counts)."""
    wanted = [(site.code, host, URL(site.url).port or 80)
              for site in sites for host in (site.hosts or (URL(site.url).host or "",))]
    async with _resolver(settings) as resolve:
        found = await asyncio.gather(*(resolve(host, port) for _, host, port in wanted))
    keys: dict[str, set[str]] = {site.code: set() for site in sites}
    for (code, _, _), key in zip(wanted, found, strict=True):
        keys[code].add(key)
    return _connected(keys)


async def plan_targets(conn: asyncpg.Connection, settings: Settings, sites: Sequence[Site], lease: Lease) -> int:
    """Phase 2: one TARGETS lease per server IP for the deferred URLs nobody fetched in phase 1.

    Inserted in the same transaction that completes the PLAN lease, so the FINALIZE lease can never
    be handed out between the two. Returns the number of targets.
    """
    rows = await conn.fetch(
        """SELECT DISTINCT ON (e.target_url) e.target_url, e.site, e.source_url, e.anchor_text, e.element,
                  e.on_homepage
           FROM run_edges e
           WHERE e.run_id = $1 AND NOT EXISTS (
               SELECT 1 FROM fetches f
               WHERE f.run_id = $1 AND f.kind IN ('page', 'target') AND f.url = e.target_url)
           -- One edge per target carries the check: a link (<a>) if any, so off-site pages get
           -- their content (outbound spam) check exactly as in a single-process crawl.
           ORDER BY e.target_url, (e.element <> 'a'), e.seq""", lease.run_id)
    registered = {host_key(f"{scheme}://{h}/") for site in sites for h in site.hosts for scheme in ("http", "https")}
    targets = {
        row["target_url"]: Target(row["target_url"], Edge(row["site"], row["source_url"], row["anchor_text"],
                                                           Element(row["element"]), row["on_homepage"]))
        for row in rows if _checked(row["target_url"], settings, registered)
    }
    groups = await group_urls(settings, targets)
    async with conn.transaction():
        await conn.executemany(
            """INSERT INTO run_leases (run_id, phase, key, targets, weight) VALUES ($1, $2, $3, $4::jsonb, $5)
               ON CONFLICT DO NOTHING""",  # a replay after a lost COMMIT acknowledgement
            [(lease.run_id, Phase.TARGETS, g.key, orjson.dumps([targets[u].to_json() for u in g.members]).decode(),
              len(g.members)) for g in groups])
        if not await complete(conn, lease, {"targets": len(targets)}):
            raise LeaseLost(lease)
    return len(targets)


def _checked(url: str, settings: Settings, registered: set[str]) -> bool:
    """The filters a single-process frontier applies before it checks a link (see Frontier.offer)."""
    if not settings.check_external and host_key(url) not in registered:
        return False
    return looks_like_trap(url, max_length=settings.max_url_length) is None


async def group_urls(settings: Settings, urls: Iterable[str]) -> list[Group]:
    by_host: dict[tuple[str, int], list[str]] = {}
    for url in urls:
        parsed = URL(url)
        by_host.setdefault((parsed.host or "", parsed.port or 80), []).append(url)
    async with _resolver(settings) as resolve:
        keys = await asyncio.gather(*(resolve(host, port) for host, port in by_host))
    members: dict[str, list[str]] = {}
    for key, hosted in zip(keys, by_host.values(), strict=True):
        members.setdefault(key, []).extend(hosted)
    return [Group(key, tuple(sorted(urls))) for key, urls in sorted(members.items())]


def _connected(keys: dict[str, set[str]]) -> list[Group]:
    """Union of sites that share any address (a site-cluster server, or a host on two clusters)."""
    owner: dict[str, int] = {}  # address → group index
    groups: list[tuple[set[str], list[str]]] = []  # (addresses, site codes)
    for code, addrs in keys.items():
        joined = sorted({owner[a] for a in addrs if a in owner})
        if not joined:
            groups.append((set(addrs), [code]))
            index = len(groups) - 1
        else:
            index = joined[0]
            for other in joined[1:]:
                groups[index][0].update(groups[other][0])
                groups[index][1].extend(groups[other][1])
                groups[other] = (set(), [])
            groups[index][0].update(addrs)
            groups[index][1].append(code)
        for addr in groups[index][0]:
            owner[addr] = index
    return [Group(",".join(sorted(addrs)), tuple(codes)) for addrs, codes in groups if codes]


class _resolver:
    """``async with _resolver(settings) as resolve``: host, port → politeness key, lookups bounded."""

    def __init__(self, settings: Settings) -> None:
        self._resolver = Resolver.from_settings(settings.resolve, settings.nameservers, settings.allow_private)
        self._slots = asyncio.Semaphore(_LOOKUPS_IN_FLIGHT)

    async def __aenter__(self) -> _resolver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._resolver.close()

    async def __call__(self, host: str, port: int) -> str:
        async with self._slots:
            lookup = await self._resolver.lookup(host, port)
        return lookup.ip_key or f"host:{host_key(f'http://{host}:{port}/')}"
