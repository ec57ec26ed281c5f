"""A set of 64-bit URL hashes at about 8 bytes each (a Python set of ints costs ~70).

Hashes land in a small set; when it fills they are sorted into packed arrays that merge like a
log-structured tree (each level at most half the size of the one below, so there are O(log n)
levels and every hash is re-merged O(log n) times). Lookups bisect each level, after a fixed 2 MB
bitmap has turned away most hashes that were never added (the common case for a new link).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

BUFFER = 1 << 14  # hashes kept as a plain set before they are packed
FILTER_BITS = 1 << 24  # one bit per hash bucket: ~6 % false "maybe" at a million hashes
HOT = 4096  # recently found packed hashes: a site's navigation links are asked for on every page


class SeenHashes:
    def __init__(self, buffer: int = BUFFER) -> None:
        self._buffer_limit = buffer
        self._recent: set[int] = set()
        self._levels: list[array[int]] = []  # sorted, largest first
        self._size = 0
        self._filter = bytearray(FILTER_BITS // 8)
        self._hot: dict[int, None] = {}  # insertion-ordered: the oldest is dropped first

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: int) -> bool:
        bit = key & (FILTER_BITS - 1)
        if not self._filter[bit >> 3] & (1 << (bit & 7)):
            return False
        if key in self._recent or key in self._hot:
            return True
        for level in self._levels:
            i = bisect_left(level, key)
            if i < len(level) and level[i] == key:
                if len(self._hot) >= HOT:
                    del self._hot[next(iter(self._hot))]
                self._hot[key] = None
                return True
        return False

    def add_new(self, key: int) -> None:
        """Add a hash the caller knows is not here yet (checking again would double the cost)."""
        bit = key & (FILTER_BITS - 1)
        self._filter[bit >> 3] |= 1 << (bit & 7)
        self._recent.add(key)
        self._size += 1
        if len(self._recent) >= self._buffer_limit:
            self._pack()

    def _pack(self) -> None:
        level = array("q", sorted(self._recent))
        self._recent = set()
        # Merge while the newest level is at least half as big as the one before it.
        while self._levels and len(self._levels[-1]) <= 2 * len(level):
            merged = self._levels.pop()
            merged.extend(level)
            level = array("q", sorted(merged))
        self._levels.append(level)

    def memory_bytes(self) -> int:
        """Roughly what the structure holds: packed hashes plus the unpacked buffer."""
        packed = sum(level.itemsize * len(level) for level in self._levels)
        return packed + 70 * len(self._recent) + len(self._filter)
