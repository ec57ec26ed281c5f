"""Publication-date accuracy on dates-dev: govcrawl's article_date against htmldate.

    python benchmarks/bench_dates.py [DATA_DIR]

Scores exact-day matches on the pages labelled to the day (precision "day" in truth.jsonl). Both
extractors get the same decoded HTML (encoding from truth.jsonl) and no URL. htmldate is a benchmark
dependency only (`pip install htmldate`); without it, only govcrawl's figure is printed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crawler.parse.dates import article_date
from crawler.parse.document import Document

DEFAULT_DATA = Path("/work/shared/data/dates-dev")


@dataclass(frozen=True)
class Page:
    file: str
    html: str
    expected: str


@dataclass(frozen=True)
class Score:
    correct: int
    no_date: int
    ms_per_page: float


def load(data: Path) -> list[Page]:
    pages = []
    for line in (data / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["precision"] != "day":
            continue
        encoding = row["encoding"].rstrip("?")
        html = (data / row["file"]).read_bytes().decode(encoding, errors="replace")
        pages.append(Page(row["file"], html, row["expected_date"]))
    return pages


def score(pages: list[Page], extract: Callable[[str], str | None]) -> Score:
    correct = no_date = 0
    started = time.perf_counter()
    for page in pages:
        found = extract(page.html)
        correct += found == page.expected
        no_date += found is None
    elapsed = time.perf_counter() - started
    return Score(correct, no_date, elapsed / len(pages) * 1000)


def govcrawl(html: str) -> str | None:
    found = article_date(Document.from_text("", html), date.today())
    return found.date.isoformat() if found else None


def htmldate_extractor() -> Callable[[str], str | None] | None:
    try:
        from htmldate import find_date
    except ImportError:
        return None

    def extract(html: str) -> str | None:
        try:
            result: str | None = find_date(html, original_date=True, outputformat="%Y-%m-%d")
        except Exception:  # htmldate raises on some malformed pages: count it as no date
            return None
        return result

    return extract


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    pages = load(data)
    n = len(pages)
    rows = [("govcrawl", score(pages, govcrawl))]
    other = htmldate_extractor()
    if other is not None:
        rows.append(("htmldate", score(pages, other)))
    print(f"dates-dev: {n} pages labelled to the day")
    print(f"{'extractor':<10} {'exact day':>16} {'no date':>8} {'ms/page':>8}")
    for name, s in rows:
        print(f"{name:<10} {s.correct:>4}/{n} = {s.correct / n:6.1%} {s.no_date:>8} {s.ms_per_page:>8.1f}")
    if other is None:
        print("htmldate not installed: pip install htmldate (benchmark only) to compare")


if __name__ == "__main__":
    main()
