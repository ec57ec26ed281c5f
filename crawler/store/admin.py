"""Schema upkeep for the Postgres store: migrate, prune, stale runs, conditional-request validators.

Every function takes a DSN and opens (and closes) its own connection: they are called from the
CLI, cron and tests, never on the crawl's hot path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import NamedTuple

import asyncpg

SCHEMA_RESOURCE = "schema.sql"  # version 1, the baseline; shipped inside crawler/store
_MIGRATION_NAME = re.compile(r"^(\d{4})_[\w-]+\.sql$")
# One advisory lock key for migrate(): two processes starting at once must not both apply a file.
_MIGRATE_LOCK = 0x6F76_6372_6177_6C01
_LONG_TIMEOUT_S = 3600.0  # url_state folding of a whole night


class Validators(NamedTuple):
    """What a conditional request sends back: If-None-Match / If-Modified-Since."""

    etag: str | None
    last_modified: str | None


def _migrations(migrations_dir: Path | None) -> list[tuple[int, str, str]]:
    """(version, name, sql) for the baseline and every numbered migration, in order."""
    store = resources.files("crawler.store")
    found = [(1, SCHEMA_RESOURCE, store.joinpath(SCHEMA_RESOURCE).read_text("utf-8"))]
    folder: Traversable = migrations_dir if migrations_dir is not None else store.joinpath("migrations")
    if folder.is_dir():
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            match = _MIGRATION_NAME.match(entry.name)
            if match and int(match.group(1)) > 1:
                found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {folder}")
    return found


async def migrate(dsn: str, migrations_dir: Path | None = None) -> int:
    """Bring the database to the newest schema version; returns that version. Idempotent.

    Each version is applied in its own transaction together with its schema_version row, so a
    failure leaves the database at the previous version.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATE_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        for version, name, sql in _migrations(migrations_dir):
            if version <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name) VALUES ($1, $2)", version, name
                )
            current = version
        now = datetime.now(UTC)
        await conn.execute(
            "SELECT govcrawl_ensure_partitions($1, $2)", now - timedelta(days=1), now + timedelta(days=62)
        )
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATE_LOCK)
        return int(current)
    finally:
        await conn.close()


async def schema_version(dsn: str) -> int:
    """The applied schema version; 0 for a database migrate() never touched."""
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
            return 0
        return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
    finally:
        await conn.close()


async def prune(dsn: str, keep: timedelta) -> list[str]:
    """Drop every time-series partition whose whole month is older than ``keep``.

    Whole partitions only (rows are never deleted one by one), so space comes back at once and
    no vacuum is needed. Returns the dropped partition names.
    """
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT govcrawl_drop_partitions($1) AS name", datetime.now(UTC) - keep)
        return [row["name"] for row in rows]
    finally:
        await conn.close()


async def mark_stale_runs(dsn: str, older_than: timedelta = timedelta(minutes=10)) -> list[int]:
    """Mark runs still 'running' whose writer has not beaten its heartbeat for ``older_than`` as failed.

    A live PostgresSink beats at least every 30 s, so the default leaves a wide margin. What the
    crashed run did store is still folded into url_state. Returns the ids of the runs it marked.
    """
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                """UPDATE runs SET status = 'failed', ended_at = heartbeat_at
                   WHERE status = 'running' AND heartbeat_at < now() - $1::interval
                   RETURNING id""",
                older_than,
            )
            ids = sorted(row["id"] for row in rows)
            for run_id in ids:
                await conn.execute("SELECT govcrawl_refresh_url_state($1)", run_id, timeout=_LONG_TIMEOUT_S)
        return ids
    finally:
        await conn.close()


async def refresh_url_state(dsn: str, run_id: int) -> int:
    """Fold one run's fetches into url_state (idempotent); returns the URLs inserted or changed."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT govcrawl_refresh_url_state($1)", run_id, timeout=_LONG_TIMEOUT_S))
    finally:
        await conn.close()


async def conditional_headers(
    dsn: str, site: str, urls: Iterable[str] | None = None
) -> dict[str, Validators]:
    """Validators from the last fetch of each of a site's URLs (all of them, or only ``urls``).

    URLs without an ETag or Last-Modified are left out: there is nothing to send for them.
    """
    query = """SELECT url, etag, last_modified FROM url_state
               WHERE site = $1 AND (etag IS NOT NULL OR last_modified IS NOT NULL)"""
    conn = await asyncpg.connect(dsn)
    try:
        if urls is None:
            rows = await conn.fetch(query, site)
        else:
            rows = await conn.fetch(query + " AND url = ANY($2::text[])", site, list(urls))
        return {row["url"]: Validators(row["etag"], row["last_modified"]) for row in rows}
    finally:
        await conn.close()
