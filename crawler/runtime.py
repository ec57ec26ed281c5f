"""How a govcrawl process runs its event loop: uvloop, and a garbage collector tuned for a long crawl."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# CPython collects its youngest generation every 700 net container allocations. A crawl allocates
# millions of short-lived objects (records, parse results, aiohttp's per-request objects), nearly all
# freed by reference counting, so most collections find nothing: at the default they took ~3.5 % of a
# crawl's CPU, at 10,000 ~0.6 % (benchmarks/README.md). Cyclic garbage waits a little longer; at most
# the 10,000 objects more.
YOUNG_GENERATION_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect less often, and never rescan what start-up built (modules, settings, lexicon, registry)."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion on uvloop (asyncio's loop where uvloop is unavailable)."""
    tune_gc()
    try:
        import uvloop
    except ImportError:  # uvloop is not available on every platform
        return asyncio.run(main)
    return uvloop.run(main)
