"""A deterministic simulated Chinese government web for tests, benchmarks and ``govcrawl demo``.

``async with SimWeb(n_sites=60, seed=1, today=date(2024, 6, 15)) as web:`` serves every site
from one in-process aiohttp server on loopback; ``web.truth`` lists everything planted.
"""

from crawler.simweb.logstats import (
    LogEntry,
    by_addr,
    disallowed_fetches,
    max_in_flight,
    min_spacing,
    rate_exceeded,
)
from crawler.simweb.model import ALL_FAULTS, SLOTS
from crawler.simweb.server import REGISTRY_HEADER, SimResolver, SimWeb
from crawler.simweb.truth import (
    ColumnTruth,
    EncodingCase,
    FreshnessCase,
    IntegrityCase,
    LinkCase,
    SiteTruth,
    TrapCase,
    Truth,
)

__all__ = [
    "ALL_FAULTS",
    "REGISTRY_HEADER",
    "SLOTS",
    "ColumnTruth",
    "EncodingCase",
    "FreshnessCase",
    "IntegrityCase",
    "LinkCase",
    "LogEntry",
    "SimResolver",
    "SimWeb",
    "SiteTruth",
    "TrapCase",
    "Truth",
    "by_addr",
    "disallowed_fetches",
    "max_in_flight",
    "min_spacing",
    "rate_exceeded",
]
