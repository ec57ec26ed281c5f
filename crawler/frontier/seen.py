"""Sets of 64-bit URL hashes (optionally each with a small code) whose memory does not grow with their size.

A crawl remembers every URL it has settled; kept in memory even packed at 8 bytes a hash, that grows all
night. `SeenHashes` keeps a fixed amount in memory and the rest in sorted runs on disk:

* **buffer** — the newest hashes in a dict (hash → code), until ``buffer`` of them are there;
* **levels** — the buffer sorted into packed arrays, merged like a log-structured tree (a level is merged
  with the ones after it while they hold at least half as much), so there are O(log n) of them;
* **runs** — once the levels hold more than ``budget`` bytes they are merged into one sorted run in an
  unnamed temporary file (``tempfile.TemporaryFile``: in ``$TMPDIR``, gone when closed or when the
  process ends). Runs merge by the same rule, streaming, so there are O(log n) of them on disk and a
  merge holds one chunk of each run in memory. A run is a sequence of 4 KiB blocks; memory keeps only
  the first hash of each block (the fence index: 8 bytes per 512 hashes, or per 341 with codes);
* **filter** — a fixed bitmap, one bit per hash bucket: a hash whose bit is clear was never added (most
  new links), answered without looking further;
* **hot cache** — hashes recently found in levels or runs: a site's navigation links are asked about on
  every page.

A lookup is a bit test, then dict probes (hot cache, buffer); only if those miss, a bisect per level
and, per run, a bisect of its fences and one ``os.pread`` of one block (a few microseconds). The filter
is fixed in size, so it grows less selective: one bit in 2^24 per hash leaves ~6 % of new hashes to look
further at 1 M hashes, ~15 % at 2.7 M. With codes, a later `add` of a hash wins over an earlier one;
without, adding a hash twice is harmless but counted twice.
"""

from __future__ import annotations

import os
import sys
import tempfile
import weakref
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import TypeAlias

BUFFER = 1 << 14  # hashes kept in a dict before they are packed
BUDGET = 2 << 20  # bytes of packed levels kept in memory; beyond this they spill to disk
FILTER_BITS = 1 << 24  # 2 MB: ~6 % of never-added hashes pass at a million hashes
HOT = 1 << 14  # hashes recently found packed, per generation of the hot cache: ~1 MB each
BLOCK = 4096  # bytes read from a run per lookup; the first hash of each is a fence
CHUNK = 8192  # hashes per piece of a streaming merge: memory per merged run or level
KEY_SIZE = array("q").itemsize  # a signed 64-bit hash, as hash() returns
CODE_SIZE = array("I").itemsize  # an unsigned code (32 bits on every platform CPython supports)

Chunk: TypeAlias = "tuple[array[int], array[int] | None]"  # sorted hashes and their codes (None: no codes)


class SeenHashes:
    """64-bit hashes, each mapped to a code (0 when ``codes`` is False), in bounded memory.

    ``budget`` is in bytes of packed levels, ``buffer`` in hashes, ``hot`` in hashes per generation of the
    hot cache. Memory is about ``budget`` plus the filter, the buffer and the hot cache when full, plus
    8 bytes per block on disk.
    """

    def __init__(self, *, codes: bool = False, budget: int = BUDGET, buffer: int = BUFFER,
                 filter_bits: int = FILTER_BITS, hot: int = HOT) -> None:
        if filter_bits & (filter_bits - 1) or filter_bits < 8:
            raise ValueError("filter_bits must be a power of two, at least 8")
        self._codes = codes
        self._budget = budget
        self._buffer_limit = max(buffer, 1)
        self._hot_limit = hot
        self._filter_mask = filter_bits - 1
        self._filter = bytearray(filter_bits // 8)
        # Two generations: when the hot one fills it becomes the warm one, and the old warm one is dropped
        # (cheaper than dropping the oldest entry each time, which costs a scan of a dict's dead slots).
        self._hot: dict[int, int] = {}
        self._warm: dict[int, int] = {}
        self._buffer: dict[int, int] = {}
        self._levels: list[Chunk] = []  # in memory, oldest (largest) first
        self._runs: list[_Run] = []  # on disk, oldest (largest) first
        self._added = 0

    def __len__(self) -> int:
        """How many times `add` was called."""
        return self._added

    def __contains__(self, key: int) -> bool:
        bit = key & self._filter_mask
        if not self._filter[bit >> 3] & (1 << (bit & 7)):
            return False
        if key in self._hot or key in self._buffer:
            return True
        return self._find_packed(key) is not None

    def get(self, key: int) -> int | None:
        """The code of ``key`` (0 without codes), or None if it was never added."""
        bit = key & self._filter_mask
        if not self._filter[bit >> 3] & (1 << (bit & 7)):
            return None
        code = self._hot.get(key)
        if code is None:
            code = self._buffer.get(key)
        if code is None:
            code = self._find_packed(key)
        return code

    def add(self, key: int, code: int = 0) -> None:
        """Add ``key`` without looking for it first (that would double the cost of settling a URL)."""
        bit = key & self._filter_mask
        self._filter[bit >> 3] |= 1 << (bit & 7)
        if self._codes:  # the hot cache must not answer with the code this one replaces
            self._hot.pop(key, None)
            self._warm.pop(key, None)
        self._buffer[key] = code
        self._added += 1
        if len(self._buffer) >= self._buffer_limit:
            self._pack()

    def close(self) -> None:
        """Delete the spill files now rather than when the store is garbage-collected.

        The store must not be used afterwards: a lookup that reaches a closed run raises ``OSError``.
        """
        for run in self._runs:
            run.close()

    def memory_bytes(self) -> int:
        """Roughly what is held in memory: filter, hot cache, buffer, packed levels and fence indexes."""
        int_object = 32  # a hash too large for CPython's small-int cache is an object of its own
        dicts = sum(sys.getsizeof(d) + int_object * len(d) for d in (self._hot, self._warm, self._buffer))
        return len(self._filter) + dicts + self._level_bytes() + sum(run.memory_bytes() for run in self._runs)

    @property
    def runs(self) -> int:
        """How many sorted runs are on disk now."""
        return len(self._runs)

    def disk_bytes(self) -> int:
        """The size of the spill files."""
        return sum(run.disk_bytes() for run in self._runs)

    def _find_packed(self, key: int) -> int | None:
        code = self._warm.get(key)
        if code is None:
            code = self._search_packed(key)
            if code is None:
                return None
        if len(self._hot) >= self._hot_limit:
            self._warm, self._hot = self._hot, {}
        self._hot[key] = code
        return code

    def _search_packed(self, key: int) -> int | None:
        for keys, codes in reversed(self._levels):  # newest first: with codes, the latest add wins
            i = bisect_left(keys, key)
            if i < len(keys) and keys[i] == key:
                return 0 if codes is None else codes[i]
        for run in reversed(self._runs):
            code = run.find(key)
            if code is not None:
                return code
        return None

    def _pack(self) -> None:
        """Sort the buffer into a level; merge levels; spill them all to disk once they outgrow the budget."""
        keys = sorted(self._buffer)
        codes = array("I", map(self._buffer.__getitem__, keys)) if self._codes else None
        self._buffer = {}
        self._levels.append((array("q", keys), codes))
        start = _merge_from([len(level[0]) for level in self._levels])
        if start < len(self._levels) - 1:
            merged = _merge([_chunks_of(level) for level in self._levels[start:]])
            self._levels[start:] = [_collect(merged, self._codes)]
        if self._level_bytes() > self._budget:
            self._spill()

    def _spill(self) -> None:
        self._runs.append(_Run(_merge([_chunks_of(level) for level in self._levels]), self._codes))
        self._levels = []
        start = _merge_from([run.length for run in self._runs])
        if start < len(self._runs) - 1:
            merging = self._runs[start:]
            self._runs[start:] = [_Run(_merge([run.chunks() for run in merging]), self._codes)]
            for run in merging:
                run.close()

    def _level_bytes(self) -> int:
        entry = KEY_SIZE + (CODE_SIZE if self._codes else 0)
        return entry * sum(len(keys) for keys, _ in self._levels)


def _merge_from(sizes: list[int]) -> int:
    """Where the newest (last) of sorted levels should start merging: while the merged tail holds at
    least half of what the level before it holds. Sizes then at least halve from one level to the
    next, so there are O(log n) levels and each hash is merged O(log n) times."""
    start, tail = len(sizes) - 1, sizes[-1]
    while start > 0 and sizes[start - 1] <= 2 * tail:
        start -= 1
        tail += sizes[start]
    return start


def _chunks_of(level: Chunk) -> Iterator[Chunk]:
    keys, codes = level
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK], None if codes is None else codes[start:start + CHUNK]


def _merge(streams: list[Iterator[Chunk]]) -> Iterator[Chunk]:
    """Merge sorted streams of chunks, oldest first, into one sorted stream; a later stream wins a hash.

    Every hash at or below the smallest last hash of the streams' current chunks is final, so each step
    sorts just those: memory holds one chunk per stream, and the sorting stays in C.
    """
    heads: list[Chunk | None] = [next(stream, None) for stream in streams]
    while live := [head for head in heads if head is not None]:
        bound = min(keys[-1] for keys, _ in live)
        parts: list[Chunk] = []
        for n, head in enumerate(heads):
            if head is None:
                continue
            keys, codes = head
            cut = bisect_right(keys, bound)
            if cut:
                parts.append((keys[:cut], None if codes is None else codes[:cut]))
            if cut < len(keys):
                heads[n] = (keys[cut:], None if codes is None else codes[cut:])
            else:
                heads[n] = next(streams[n], None)
        yield _merge_parts(parts)


def _merge_parts(parts: list[Chunk]) -> Chunk:
    if len(parts) == 1:
        return parts[0]  # the streams do not overlap here: nothing to sort
    if parts[0][1] is None:
        return array("q", sorted(chain.from_iterable(keys for keys, _ in parts))), None
    latest: dict[int, int] = {}
    for keys, codes in parts:  # oldest first, so the latest code of a hash is the one kept
        if codes is not None:
            latest.update(zip(keys, codes, strict=True))
    ordered = sorted(latest)
    return array("q", ordered), array("I", map(latest.__getitem__, ordered))


def _collect(chunks: Iterable[Chunk], with_codes: bool) -> Chunk:
    keys, codes = array("q"), array("I") if with_codes else None
    for chunk_keys, chunk_codes in chunks:
        keys.extend(chunk_keys)
        if codes is not None and chunk_codes is not None:
            codes.extend(chunk_codes)
    return keys, codes


class _Run:
    """A sorted run in an unnamed temporary file: 4 KiB blocks, the first hash of each kept in memory.

    A block holds ``per_block`` hashes, then (with codes) their codes; only the last block is short.
    """

    def __init__(self, chunks: Iterable[Chunk], with_codes: bool) -> None:
        self.with_codes = with_codes
        self.per_block = BLOCK // (KEY_SIZE + (CODE_SIZE if with_codes else 0))
        self.fences = array("q")
        self.length = 0
        self.last = 0
        file = tempfile.TemporaryFile()  # noqa: SIM115 - it lives as long as the run
        # Close the file when the run is collected, without a __del__ (and without a ResourceWarning).
        self._close = weakref.finalize(self, file.close)
        self._fd = file.fileno()
        tail_keys, tail_codes = array("q"), array("I")
        for keys, codes in chunks:
            tail_keys.extend(keys)
            if codes is not None:
                tail_codes.extend(codes)
            full = len(tail_keys) - len(tail_keys) % self.per_block
            for start in range(0, full, self.per_block):
                file.write(self._block(tail_keys, tail_codes, start, start + self.per_block))
            del tail_keys[:full], tail_codes[:full]
        if tail_keys:
            file.write(self._block(tail_keys, tail_codes, 0, len(tail_keys)))
        file.flush()

    def _block(self, keys: array[int], codes: array[int], start: int, end: int) -> bytes:
        self.fences.append(keys[start])
        self.length += end - start
        self.last = keys[end - 1]
        if not self.with_codes:
            return keys[start:end].tobytes()
        block = keys[start:end].tobytes().ljust(self.per_block * KEY_SIZE, b"\0") + codes[start:end].tobytes()
        return block.ljust(BLOCK, b"\0")

    def find(self, key: int) -> int | None:
        """The code of ``key`` in this run (0 without codes), or None: one bisect and one block read."""
        if key > self.last or key < self.fences[0]:
            return None
        block = bisect_right(self.fences, key) - 1
        count = min(self.per_block, self.length - block * self.per_block)
        data = memoryview(os.pread(self._fd, BLOCK, block * BLOCK))
        keys = data[:count * KEY_SIZE].cast("q")
        i = bisect_left(keys, key)
        if i == count or keys[i] != key:
            return None
        if not self.with_codes:
            return 0
        codes_at = self.per_block * KEY_SIZE
        return data[codes_at:codes_at + count * CODE_SIZE].cast("I")[i]

    def chunks(self) -> Iterator[Chunk]:
        """The whole run in order, a few blocks per read."""
        blocks_per_read = max(1, CHUNK // self.per_block)
        for first in range(0, len(self.fences), blocks_per_read):
            data = memoryview(os.pread(self._fd, blocks_per_read * BLOCK, first * BLOCK))
            keys, codes = array("q"), array("I") if self.with_codes else None
            for block in range(first, min(first + blocks_per_read, len(self.fences))):
                count = min(self.per_block, self.length - block * self.per_block)
                at = (block - first) * BLOCK
                keys.frombytes(data[at:at + count * KEY_SIZE])
                if codes is not None:
                    codes_at = at + self.per_block * KEY_SIZE
                    codes.frombytes(data[codes_at:codes_at + count * CODE_SIZE])
            yield keys, codes

    def memory_bytes(self) -> int:
        return sys.getsizeof(self.fences)

    def disk_bytes(self) -> int:
        return BLOCK * len(self.fences)

    def close(self) -> None:
        self._close()
        self._fd = -1  # a lookup after close fails loudly rather than reading a reused descriptor
