"""The settled-URL store is exact across packing, spilling to disk and merging, in bounded memory."""

from __future__ import annotations

import gc
import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.frontier.frontier import OK, Edge, Frontier, Known, Offer, SiteState
from crawler.frontier.seen import BLOCK, CODE_SIZE, KEY_SIZE, SeenHashes
from crawler.types import Element, Reason, Site, Verdict

HASHES = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def random_hashes(rnd: random.Random, n: int) -> list[int]:
    return [rnd.getrandbits(64) - 2**63 for _ in range(n)]


def spill_files(directory: Path) -> list[str]:
    """Descriptors this process holds open on files in ``directory`` (unnamed: their links are deleted)."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the descriptor listdir itself used
            continue
    return [target for target in targets if target.startswith(str(directory))]


@pytest.fixture
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # what $TMPDIR would choose
    return tmp_path


@settings(max_examples=100, deadline=None)
@given(st.lists(HASHES, max_size=300), st.lists(HASHES, max_size=50))
def test_behaves_like_a_set(added: list[int], probes: list[int]) -> None:
    # A tiny buffer and no memory budget: every pack spills a run to disk, and runs merge often.
    seen, reference = SeenHashes(buffer=7, budget=0), set()
    for key in added:
        if key not in seen:
            seen.add(key)
        reference.add(key)
    assert len(seen) == len(reference)
    for key in added + probes:
        assert (key in seen) == (key in reference)
    seen.close()


@pytest.mark.parametrize("budget", [0, 1 << 20])  # every pack spills to disk; none does
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 2**32 - 1)), max_size=300),
       st.lists(HASHES, max_size=50))
def test_codes_behave_like_a_dict_where_the_latest_add_wins(budget: int, added: list[tuple[int, int]],
                                                             probes: list[int]) -> None:
    # Few distinct keys, so many are added again with another code, in the buffer, a level or a run.
    seen, reference = SeenHashes(codes=True, buffer=5, budget=budget, filter_bits=8), {}
    for small, code in added:
        key = small * 0x9E3779B97F4A7C15 % 2**64 - 2**63
        seen.add(key, code)
        reference[key] = code
        assert seen.get(key) == code
    for key in [*reference, *probes]:
        assert seen.get(key) == reference.get(key)
        assert (key in seen) == (key in reference)
    seen.close()


@pytest.mark.parametrize("budget", [0, 1 << 20])  # the older codes on disk; in an older level in memory
def test_a_newer_code_wins_wherever_the_older_one_is(budget: int) -> None:
    seen = SeenHashes(codes=True, buffer=128, budget=budget, filter_bits=8)
    keys = [n * 0x9E3779B97F4A7C15 % 2**64 - 2**63 for n in range(2048)]
    for key in keys[:1024]:
        seen.add(key, 1)
    for key in keys[:128]:  # one buffer's worth: packed into a level of its own, or a run of its own
        seen.add(key, 2)
    assert [seen.get(key) for key in keys[:256]] == [2] * 128 + [1] * 128
    for key in keys[1024:]:  # merged with the older ones
        seen.add(key, 3)
    assert [seen.get(key) for key in keys[:256:2]] == [2] * 64 + [1] * 64
    seen.close()


@pytest.mark.parametrize("codes", [False, True])
def test_many_random_hashes_are_exact_across_spills_and_merges_in_bounded_memory(codes: bool) -> None:
    rnd = random.Random(7)
    budget = 64 << 10
    # filter_bits=8: the filter passes (nearly) everything, so absent hashes are really searched for.
    seen = SeenHashes(codes=codes, budget=budget, buffer=2048, filter_bits=8, hot=64)
    reference: dict[int, int] = {}
    memory: list[int] = []
    for n, key in enumerate(random_hashes(rnd, 300_000), 1):
        code = rnd.randrange(1, 1000) if codes else 0
        seen.add(key, code)
        reference[key] = code
        if n % 100_000 == 0:
            memory.append(seen.memory_bytes())
    if codes:  # some hashes again, with a new code, after their first one went to disk
        for key in rnd.sample(list(reference), 2000):
            reference[key] = rnd.randrange(1000, 2000)
            seen.add(key, reference[key])
    assert seen.runs >= 2
    assert seen.runs <= (300_000 * (KEY_SIZE + CODE_SIZE) // budget).bit_length() + 1  # O(log n) runs

    sample = rnd.sample(list(reference), 15_000)
    assert [seen.get(key) for key in sample] == [reference[key] for key in sample]
    absent = random_hashes(rnd, 15_000)
    assert not [key for key in absent if key in seen or seen.get(key) is not None]

    # Memory: the budget, the buffer (≤ ~150 bytes a hash in a dict), two generations of the hot cache,
    # plus 8 bytes of fence per block on disk.
    per_block = BLOCK // (KEY_SIZE + (CODE_SIZE if codes else 0))
    fences = 300_000 // per_block * KEY_SIZE
    assert memory[-1] < budget + 2048 * 150 + 64 * 2 * 150 + fences + 4096
    assert memory[-1] - memory[0] < 200_000 // per_block * KEY_SIZE + budget  # ~0 per hash, not 8
    seen.close()


def test_spill_files_are_unnamed_in_tmpdir_and_closed_by_close(spill_dir: Path) -> None:
    seen = SeenHashes(budget=0, buffer=1000)
    added = random_hashes(random.Random(1), 20_000)
    for key in added:
        seen.add(key)
    assert seen.runs >= 2
    assert len(spill_files(spill_dir)) == seen.runs  # runs merged away were closed
    assert all(target.endswith("(deleted)") for target in spill_files(spill_dir))
    assert list(spill_dir.iterdir()) == []
    seen.close()
    assert spill_files(spill_dir) == []
    with pytest.raises(OSError):  # a closed store must not answer from a reused descriptor
        seen.get(added[0])  # on disk: not in the buffer, nor ever looked up


def test_spill_files_are_closed_when_the_store_is_collected(spill_dir: Path) -> None:
    seen = SeenHashes(budget=0, buffer=1000)
    for key in random_hashes(random.Random(2), 5000):
        seen.add(key)
    assert spill_files(spill_dir)
    del seen
    gc.collect()
    assert spill_files(spill_dir) == []  # and no ResourceWarning, which the test settings make an error


def test_new_hashes_and_repeated_ones_are_answered_without_reading_disk() -> None:
    rnd = random.Random(3)
    added = random_hashes(rnd, 20_000)
    seen = SeenHashes(budget=0, buffer=1000)
    for key in added:
        seen.add(key)
    navigation = added[:500]
    assert all(key in seen for key in navigation)  # read from disk once, then remembered as hot
    seen.close()  # from here on, a lookup that reads disk raises OSError

    def answered_in_memory(key: int) -> bool:
        try:
            return (key in seen) == (seen.get(key) is not None)
        except OSError:
            return False

    assert all(answered_in_memory(key) and key in seen for key in navigation)
    never_added = random_hashes(rnd, 10_000)
    assert sum(map(answered_in_memory, never_added)) > 0.99 * len(never_added)  # the filter's doing


def frontier_with_site(memory_budget: int) -> tuple[Frontier, SiteState]:
    frontier = Frontier(max_pages=10**9, max_depth=10, max_url_length=1024, check_external=True,
                        memory_budget=memory_budget)
    state = SiteState(Site(code="2100000001", name="site", url="http://www.site.gov.cn/", hosts=("www.site.gov.cn",)))
    frontier.add_site(state)
    return frontier, state


def test_frontier_remembers_every_verdict_exactly_once_spilled(spill_dir: Path) -> None:
    frontier, state = frontier_with_site(memory_budget=16 << 10)
    bad = [Known(Verdict.BROKEN, Reason.HTTP_404, 404), Known(Verdict.BROKEN, Reason.HTTP_5XX, 503),
           Known(Verdict.UNVERIFIED, Reason.ROBOTS_DISALLOWED, None)]
    rnd = random.Random(4)
    expected: dict[str, Known] = {}
    for n in range(40_000):
        url = f"http://www.site.gov.cn/a/{n}.html"
        edge = Edge(state.site.code, "http://www.site.gov.cn/", "", Element.A, False)
        assert frontier.offer(url, 1, edge, state)[0] is Offer.NEW
        expected[url] = rnd.choice(bad) if n % 2 else OK
        frontier.settle(url, expected[url].verdict, expected[url].reason, expected[url].status)
    assert frontier._done_ok.runs and frontier._bad.runs  # both stores spilled
    edge = Edge(state.site.code, "http://www.site.gov.cn/b.html", "", Element.A, False)
    for url, known in expected.items():
        assert frontier.offer(url, 1, edge, state)[0] is Offer.KNOWN
        assert frontier.known(url) == known
    assert frontier.known("http://www.site.gov.cn/never.html") is OK
    assert frontier.offer("http://www.site.gov.cn/never.html", 1, edge, state)[0] is Offer.NEW
    frontier.close()
    assert spill_files(spill_dir) == []


def test_frontier_a_bad_verdict_outlives_an_ok_one_and_the_latest_bad_one_wins() -> None:
    frontier, _state = frontier_with_site(memory_budget=0)
    frontier.settle("http://www.site.gov.cn/x", Verdict.OK, None, 200)
    frontier.settle("http://www.site.gov.cn/x", Verdict.BROKEN, Reason.HTTP_404, 404)
    frontier.settle("http://www.site.gov.cn/x", Verdict.OK, None, 200)
    assert frontier.known("http://www.site.gov.cn/x") == Known(Verdict.BROKEN, Reason.HTTP_404, 404)
    frontier.settle("http://www.site.gov.cn/x", Verdict.BROKEN, Reason.HTTP_5XX, 500)
    assert frontier.known("http://www.site.gov.cn/x") == Known(Verdict.BROKEN, Reason.HTTP_5XX, 500)
