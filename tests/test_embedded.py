"""The embedded server: start, idempotent re-start, stop, and where it puts the cluster."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from crawler.store import embedded
from crawler.store.embedded import EmbeddedError, embedded_dsn, ensure_embedded, stop_embedded

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the user switch only happens as root")


@pytest.fixture
def home() -> Iterator[Path]:
    # Not yet existing, under /tmp: ensure_embedded creates it, so the postgres user can pass.
    path = Path(tempfile.gettempdir()) / f"govcrawl-embedded-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        yield path
    finally:
        stop_embedded(path)
        shutil.rmtree(path, ignore_errors=True)


async def _select_one(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


async def test_start_is_idempotent_and_survives_stop(home: Path) -> None:
    dsn = ensure_embedded(home, durable=False)
    assert dsn.startswith("postgresql://govcrawl:") and dsn.endswith("@127.0.0.1:" + (home / "port").read_text().strip()
                                                                      + "/govcrawl")
    assert await _select_one(dsn) == 1
    assert ensure_embedded(home) == dsn  # already running: same server, same DSN
    assert embedded_dsn(home) == dsn
    stop_embedded(home)
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await _select_one(dsn)
    stop_embedded(home)  # stopping a stopped server is fine
    assert ensure_embedded(home) == dsn  # restarted on the remembered port
    assert await _select_one(dsn) == 1
    assert stat.S_IMODE((home / "password").stat().st_mode) == 0o600


def test_dsn_of_a_missing_cluster_is_an_error(home: Path) -> None:
    with pytest.raises(EmbeddedError, match="ensure_embedded"):
        embedded_dsn(home)


@as_root
def test_root_default_moves_out_of_unreachable_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded.platformdirs, "user_data_dir", lambda app: f"/root/.local/share/{app}")
    layout = embedded._layout(None, embedded._server_user())
    assert layout.home == embedded.ROOT_FALLBACK_HOME


@as_root
def test_root_explicit_unreachable_dir_is_refused() -> None:
    private = Path(tempfile.mkdtemp())  # 0700, root's: the postgres user cannot enter it
    try:
        with pytest.raises(EmbeddedError, match="cannot reach"):
            ensure_embedded(private / "pg")
        assert stat.S_IMODE(private.stat().st_mode) == 0o700  # and it was left alone
    finally:
        shutil.rmtree(private)
