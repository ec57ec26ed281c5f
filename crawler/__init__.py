"""govcrawl: inspects government websites the way a provincial General Office does, every night.

The pipeline, one package per stage:

    registry (sites) ─► frontier/ (scope, budgets, dedupe; politeness scheduler; robots.txt)
                     ─► fetch/ (resolver, HTTP client: every failure becomes a Reason)
                     ─► parse/ (decode, Document, links, dates, list items)
                     ─► checks/ (verdicts, freshness, integrity, identity)
                     ─► store/ (Sink: JSONL or PostgreSQL)

`engine.Crawl` wires the stages for one run; `cli` is the command line; `config.Settings` feeds
everything; `metrics` is the one place Prometheus series are recorded; `simweb` is the simulated
government web used by tests, benchmarks and the demo.
"""

__version__ = "0.1.0"
