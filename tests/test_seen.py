"""The compact set of URL hashes behaves like a set, across packing and merging."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.frontier.seen import FILTER_BITS, SeenHashes

HASHES = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(HASHES, max_size=300), st.lists(HASHES, max_size=50))
def test_behaves_like_a_set(added: list[int], probes: list[int]) -> None:
    seen, reference = SeenHashes(buffer=7), set()  # a tiny buffer forces many packs and merges
    for key in added:
        if key not in seen:
            seen.add_new(key)
        reference.add(key)
    assert len(seen) == len(reference)
    for key in added + probes:
        assert (key in seen) == (key in reference)


def test_memory_is_about_eight_bytes_per_hash_once_packed() -> None:
    seen = SeenHashes(buffer=1024)
    for key in range(200_000):
        seen.add_new(key * 2654435761 % (2**61))
    assert len(seen) == 200_000
    assert seen.memory_bytes() < 200_000 * 8 + 1024 * 70 + FILTER_BITS // 8
