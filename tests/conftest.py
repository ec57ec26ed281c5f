"""Shared fixtures: a real, throwaway PostgreSQL for the whole session (never a mock).

- ``pg_server``  (session): the embedded server in a temporary data dir, fsync off, stopped and
  deleted at the end. Its ``dsn(db)`` gives the DSN of any database on it.
- ``pg_dsn``     (function): a fresh database with the govcrawl schema applied, cloned from a
  migrated template (``CREATE DATABASE … TEMPLATE``, tens of milliseconds), dropped afterwards.
- ``pg_module_dsn`` (module): the same, shared by one test module.
- ``pg_empty_dsn`` (function): a fresh database with no schema at all (for migration tests).
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from crawler.store import admin
from crawler.store.embedded import ensure_embedded, stop_embedded

_TEMPLATE = "govcrawl_template"
_counter = itertools.count()


@dataclass(frozen=True)
class PgServer:
    data_dir: Path
    base_dsn: str  # the embedded server's DSN for database "govcrawl"

    def dsn(self, database: str) -> str:
        return self.base_dsn.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # A directory we create ourselves under /tmp, so the postgres user can reach it when we are root.
    data_dir = Path(tempfile.gettempdir()) / f"govcrawl-test-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        yield PgServer(data_dir, ensure_embedded(data_dir, durable=False))
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def pg_template(pg_server: PgServer) -> str:
    await _admin_execute(pg_server, f"CREATE DATABASE {_TEMPLATE}")
    await admin.migrate(pg_server.dsn(_TEMPLATE))
    return _TEMPLATE


@pytest.fixture
async def pg_dsn(pg_server: PgServer, pg_template: str) -> AsyncIterator[str]:
    async with _database(pg_server, f"TEMPLATE {pg_template}") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def pg_module_dsn(pg_server: PgServer, pg_template: str) -> AsyncIterator[str]:
    """A migrated database shared by one test module (for an expensive crawl several tests read)."""
    async with _database(pg_server, f"TEMPLATE {pg_template}") as dsn:
        yield dsn


@pytest.fixture
async def pg_empty_dsn(pg_server: PgServer) -> AsyncIterator[str]:
    async with _database(pg_server, "") as dsn:
        yield dsn


class _database:
    """Creates a uniquely named database on enter and drops it (closing its sessions) on exit."""

    def __init__(self, server: PgServer, clause: str) -> None:
        self.server = server
        self.clause = clause
        self.name = f"test_{os.getpid()}_{next(_counter)}"

    async def __aenter__(self) -> str:
        await _admin_execute(self.server, f"CREATE DATABASE {self.name} {self.clause}")
        return self.server.dsn(self.name)

    async def __aexit__(self, *exc: object) -> None:
        await _admin_execute(self.server, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


async def _admin_execute(server: PgServer, sql: str) -> None:
    conn = await asyncpg.connect(server.dsn("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
