"""What every crawl contender process of bench_crawl.py shares: its command line and its inputs.

The floor and Scrapy run the same crawl as govcrawl, so they read the same registry and the same
HOST=ADDR:PORT rules (the simulated web's --resolve rules) from files bench_crawl.py writes.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def contender_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sites-csv", type=Path, required=True)
    parser.add_argument("--resolve-file", type=Path, required=True, help="HOST=ADDR:PORT rules, one per line")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--host-concurrency", type=int, default=2)
    parser.add_argument("--max-pages", type=int, default=2000)
    parser.add_argument("--max-depth", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=3.0)
    return parser


def load_rules(path: Path) -> dict[str, tuple[str, int]]:
    rules = {}
    for line in path.read_text(encoding="utf-8").split():
        host, _, target = line.partition("=")
        addr, _, port = target.rpartition(":")
        rules[host.lower()] = (addr, int(port))
    return rules


def load_seeds(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["url"] for row in csv.DictReader(fh)]
