"""The simulated web in a child process, for measurements that must not share the crawler's CPU time.

Politeness is judged from the server's request log. Served from the crawler's own process, requests
would be timestamped only when the event loop (or the GIL) got round to them, so a busy crawler would
make a polite request stream look bunched. A separate process keeps the server's clock honest; its
log comes back when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from crawler.simweb.logstats import LogEntry
from crawler.simweb.server import SimWeb
from crawler.simweb.truth import Truth

START_TIMEOUT = 60.0


@dataclass
class RemoteSimWeb:
    truth: Truth
    resolve_rules: list[str]
    nameserver: str
    port: int  # every simulated site listens on this port, at each of its loopback addresses
    log: list[LogEntry] = field(default_factory=list)  # filled when the process stops


@contextmanager
def simweb_process(sites_csv: Path | None = None, truth_json: Path | None = None,
                   **options: Any) -> Iterator[RemoteSimWeb]:
    """Run `SimWeb(**options)` in a child process; write the registry (and truth) files if asked."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, options, sites_csv, truth_json), daemon=True)
    process.start()
    if not parent.poll(START_TIMEOUT):
        process.kill()
        raise RuntimeError("the simulated web did not start")
    started = parent.recv()
    if isinstance(started, BaseException):
        raise RuntimeError(f"the simulated web did not start: {started!r}")
    remote = RemoteSimWeb(**started)
    try:
        yield remote
    finally:
        parent.send("stop")
        if parent.poll(START_TIMEOUT):
            remote.log = parent.recv()
        process.join(10)
        if process.is_alive():
            process.kill()


def _serve(conn: Connection, options: dict[str, Any], sites_csv: Path | None, truth_json: Path | None) -> None:
    # The request log is the politeness witness, stamped when this process gets round to a request. On a
    # busy machine it can wait its turn for the CPU behind the crawler it watches (stamps 50-200 ms late,
    # seen at load 4-5 on 2 cores); a higher priority keeps it prompt. Only root may raise it.
    with contextlib.suppress(PermissionError):
        os.nice(-10)
    asyncio.run(_main(conn, options, sites_csv, truth_json))


async def _main(conn: Connection, options: dict[str, Any], sites_csv: Path | None, truth_json: Path | None) -> None:
    try:
        web = SimWeb(**options)
        await web.start()
    except Exception as exc:
        conn.send(exc)
        return
    try:
        if sites_csv is not None:
            web.write_sites_csv(sites_csv)
        if truth_json is not None:
            web.write_truth(truth_json)
        conn.send({"truth": web.truth, "resolve_rules": list(web.resolve_rules), "nameserver": web.nameserver,
                   "port": web.port})
        stop = asyncio.Event()
        asyncio.get_running_loop().add_reader(conn.fileno(), stop.set)
        await stop.wait()
        conn.recv()
    finally:
        await web.stop()
    conn.send(list(web.log))
