"""The curated spam lexicon (crawler/data/spam_lexicon.tsv) and spam-ish link-host patterns.

The raw public word lists are far too broad for government pages (they flag 体育, 彩票, 网络, 招聘 ...), so
the project ships a small curated list instead; crawler/data/README.md says how it was curated.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ahocorasick

Strength = Literal["strong", "weak"]

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "spam_lexicon.tsv"
_SEPARATOR = "\n"  # of the texts find_in_any joins; terms come one per line, so none contains it
_CATEGORIES = frozenset({"gambling", "porn", "fake_docs", "other"})
_STRENGTHS = frozenset({"strong", "weak", "allow"})

# Full-width ASCII (ＡＰＰ, ｂｅｔ３６５) is a cheap evasion; folding it keeps string offsets unchanged.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_WIDE = {narrow: wide for wide, narrow in _FOLD.items()}
# Texts are not folded but only lower-cased (which lower-cases full-width letters too): translate() costs
# ~0.15 µs a character, more than the search itself. The automaton holds every term in each mix of ASCII and
# full-width forms instead, 2^n spellings for n ASCII characters: terms are words, n stays small.
_MAX_ASCII = 12
_START = 3  # characters of each term that a quick search looks for first

# Host substrings of gambling brands and their usual pinyin; each one is long and specific enough not to
# occur inside ordinary words ("bet" alone would hit alphabet / tibet / beta).
_HOST_SUBSTRINGS = (
    "bet365", "365bet", "betway", "188bet", "12bet", "10bet", "dafabet", "vwin", "casino", "baccarat",
    "xinpujing", "weinisiren", "taiyangcheng", "kaiyuanqipai", "liuhecai", "shishicai",
)  # fmt: skip
# Gambling-site naming: an abbreviation glued to 3+ digits (hg0088 皇冠, xpj3344 新葡京, ylc8888 娱乐城,
# amjs 澳门金沙, tyc 太阳城, wns/vns 威尼斯人) — mirrors are numbered because the names get blocked.
_HOST_RE = re.compile(
    r"(?:^|[.-])(?:xpj|amjs|ylc|hg|tyc|wns|vns|bet)\d{3,}|\d{3,}(?:xpj|amjs|ylc|bet)(?:[.-]|$)"
)


@dataclass(frozen=True, slots=True)
class Entry:
    term: str
    category: str
    strength: str  # strong | weak | allow


@dataclass(frozen=True, slots=True)
class Match:
    term: str
    category: str
    strength: Strength
    start: int  # offset in the text given to find()


def fold(text: str) -> str:
    """Lower-case and fold full-width ASCII; keeps offsets so matches point into the original text."""
    return text.translate(_FOLD).lower()


@functools.lru_cache(maxsize=4096)  # asked for every off-site link of every page; few distinct hosts
def spam_host(host: str) -> str | None:
    """The gambling host pattern `host` matches, or None. Government hosts never match."""
    host = host.lower().rstrip(".")
    if host.endswith(".gov.cn") or not host:
        return None
    for needle in _HOST_SUBSTRINGS:
        if needle in host:
            return needle
    found = _HOST_RE.search(host)
    return found.group(0).strip(".-") if found else None


class Lexicon:
    def __init__(self, entries: Iterable[Entry], version: str) -> None:
        self.version = version
        self.entries = tuple(entries)
        self._automaton = ahocorasick.Automaton()
        starts: set[str] = set()
        for entry in self.entries:
            if _SEPARATOR in entry.term:  # find_in_any relies on it; the TSV cannot hold one anyway
                raise ValueError(f"spam lexicon: term {entry.term!r} spans lines")
            for spelling in _spellings(fold(entry.term)):
                self._automaton.add_word(spelling, entry)
                starts.add(spelling[:_START])
        self._automaton.make_automaton()
        # Nearly every text holds no term: a regex search for their starts says so in about half the time the
        # automaton takes (it looks for each character among a hundred first characters, one by one).
        self._starts = _alternatives(starts)

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> Lexicon:
        """Parse the TSV and build the automaton once per path (it is immutable, so share it)."""
        return _load_cached(path)

    @classmethod
    def parse(cls, text: str) -> Lexicon:
        version = ""
        entries: list[Entry] = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("#"):
                if line.startswith("# version:"):
                    version = line.split(":", 1)[1].strip()
                continue
            if not line.strip():
                continue
            term, category, strength = line.split("\t")[:3]
            if category not in _CATEGORIES or strength not in _STRENGTHS or not term.strip():
                raise ValueError(f"spam lexicon line {number}: bad entry {line!r}")
            entries.append(Entry(term.strip(), category, strength))
        if not version:
            raise ValueError("spam lexicon: no '# version:' header")
        return cls(entries, version)

    def __len__(self) -> int:
        return sum(1 for entry in self.entries if entry.strength != "allow")

    def find(self, text: str) -> list[Match]:
        """Spam terms in `text`, in order; matches inside an allow phrase or a longer match are dropped."""
        lowered = text.lower()  # as if folded: see _spellings
        if not self._starts.search(lowered):
            return []
        spans: list[tuple[int, int, Entry]] = []
        for end, entry in self._automaton.iter(lowered):
            spans.append((end - len(entry.term) + 1, end + 1, entry))
        # Longest first at each start, so one forward sweep can drop every span nested in an earlier one.
        spans.sort(key=lambda span: (span[0], -span[1]))
        matches: list[Match] = []
        covered_to = -1
        for start, end, entry in spans:
            if end <= covered_to:
                continue
            covered_to = end
            if entry.strength != "allow":
                matches.append(Match(entry.term, entry.category, _strength(entry), start))
        return matches

    def find_in_any(self, texts: Iterable[str]) -> bool:
        """Whether find() returns anything for at least one of `texts`, in one pass over them all: joined by
        a line break, which no term contains, no match spans two texts and none hides a match of another."""
        return bool(self.find(_SEPARATOR.join(texts)))


def _spellings(term: str) -> list[str]:
    """`term` (folded) with each of its ASCII characters also in full width: what fold() maps onto it."""
    forms = [(char, chr(_WIDE[ord(char)])) if ord(char) in _WIDE else (char,) for char in term]
    if sum(len(choices) - 1 for choices in forms) > _MAX_ASCII:
        raise ValueError(f"spam lexicon: term {term!r} has more than {_MAX_ASCII} ASCII characters")
    return ["".join(spelling) for spelling in itertools.product(*forms)]


def _alternatives(starts: set[str]) -> re.Pattern[str]:
    """A regex for any of `starts`, grouped by first character: at each position the regex engine tries the
    alternatives one by one, and a hundred first characters cost less than every start."""
    rests: dict[str, set[str]] = {}
    for start in starts:
        rests.setdefault(start[0], set()).add(start[1:])
    return re.compile(
        "|".join(
            re.escape(first) + ("" if "" in after else f"(?:{'|'.join(map(re.escape, sorted(after)))})")
            for first, after in sorted(rests.items())
        )
    )


def _strength(entry: Entry) -> Strength:
    return "strong" if entry.strength == "strong" else "weak"


@functools.cache
def _load_cached(path: Path) -> Lexicon:
    return Lexicon.parse(path.read_text(encoding="utf-8"))
