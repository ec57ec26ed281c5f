"""The politeness scheduler and its backoff policy, without a network: a fake clock drives time."""

from __future__ import annotations

import asyncio

import pytest

from crawler.frontier.politeness import Limits, Scheduler, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(rate: float = 2.0, conc: int = 2, ip_rate: float = 100.0, ip_conc: int = 100
         ) -> tuple[Scheduler[str], FakeClock]:
    clock = FakeClock()
    return Scheduler(Limits(rate, conc), Limits(ip_rate, ip_conc), clock=clock), clock


def ready_host(s: Scheduler[str], key: str, ip: str | None = None):  # type: ignore[no-untyped-def]
    slot = s.host(key)
    s.bind_ip(slot, ip)
    s.open_gate(slot)
    return slot


def take(s: Scheduler[str]):  # type: ignore[no-untyped-def]
    """Lease the next request and put it on the wire at once."""
    lease, wait = s._try_lease()
    if lease is not None:
        s.writing(lease)
        s.sent(lease)
    return lease, wait


def test_backoff_policy_prefers_retry_after_and_caps_it() -> None:
    assert backoff_delay(429, 7.0, 0, base=2, cap=300) == 7.0
    assert backoff_delay(503, 1000.0, 0, base=2, cap=300) == 300
    assert backoff_delay(200, 5.0, 3, base=2, cap=300) == 0.0
    assert backoff_delay(500, None, 3, base=2, cap=300) == 0.0


def test_backoff_policy_grows_exponentially_with_jitter_between_half_and_full() -> None:
    low = [backoff_delay(429, None, level, base=2, cap=1000, rng=lambda: 0.0) for level in range(4)]
    high = [backoff_delay(429, None, level, base=2, cap=1000, rng=lambda: 1.0) for level in range(4)]
    assert low == [1.0, 2.0, 4.0, 8.0]
    assert high == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(429, None, 20, base=2, cap=60, rng=lambda: 1.0) == 60


def test_rate_limit_spaces_request_starts_per_host() -> None:
    s, clock = make(rate=2.0, conc=5)
    slot = ready_host(s, "a:80")
    for i in range(3):
        s.push(slot, f"a{i}")
    first, _ = take(s)
    assert first is not None and first.job == "a0"
    second, wait = take(s)
    assert second is None and wait == pytest.approx(0.5)
    clock.now += 0.5
    second, _ = take(s)
    assert second is not None and second.job == "a1"


def test_spacing_counts_from_when_a_request_is_sent_not_leased() -> None:
    s, clock = make(rate=2.0, conc=5, ip_rate=1000.0)
    a = ready_host(s, "a:80", ip="10.0.0.1")
    b = ready_host(s, "b:80", ip="10.0.0.1")
    for job in ("a0", "a1"):
        s.push(a, job)
    s.push(b, "b0")
    first, _ = s._try_lease()
    assert first is not None
    clock.now += 5  # the event loop was busy: the request has still not gone out
    assert s._try_lease() == (None, None)  # neither host a nor another host on its IP may start
    s.writing(first)
    clock.now += 0.001
    other, _ = take(s)
    assert other is not None and other.job == "b0"  # the IP's own spacing is only 1 ms
    clock.now += 0.2  # the process was held up between the first request's "writing" and its write
    assert s._try_lease() == (None, None)  # host a waits for the write to be confirmed
    s.sent(first)
    clock.now += 0.1
    lease, wait = s._try_lease()
    assert lease is None and wait == pytest.approx(0.4)  # host a: 0.5 s after the write, not the lease


def test_a_request_sent_again_counts_its_spacing_from_the_later_write() -> None:
    s, clock = make(rate=2.0, conc=5, ip_rate=10.0)
    a = ready_host(s, "a:80", ip="10.0.0.1")
    for job in ("a0", "a1"):
        s.push(a, job)
    first, _ = take(s)
    assert first is not None
    clock.now += 0.2  # the pooled connection was dead: the client writes the request again
    s.writing(first)
    s.sent(first)
    clock.now += 0.4
    lease, wait = s._try_lease()
    assert lease is None and wait == pytest.approx(0.1)  # 0.5 s after the second write, not the first
    s.release(first)  # over: its turn was already counted, release does not restart it
    clock.now += 0.1
    second, _ = take(s)
    assert second is not None and second.job == "a1"


def test_in_flight_limit_per_host_and_release_reopens() -> None:
    s, clock = make(rate=1000.0, conc=2)
    slot = ready_host(s, "a:80")
    for i in range(4):
        s.push(slot, f"a{i}")
    leases = []
    for _ in range(4):
        clock.now += 1
        lease, _ = take(s)
        if lease:
            leases.append(lease)
    assert [lease.job for lease in leases] == ["a0", "a1"]
    s.release(leases[0])
    clock.now += 1
    lease, _ = take(s)
    assert lease is not None and lease.job == "a2"


def test_ip_limits_are_shared_by_hosts_on_one_server() -> None:
    s, clock = make(rate=1000.0, conc=10, ip_rate=1000.0, ip_conc=1)
    a = ready_host(s, "a:80", ip="10.0.0.1")
    b = ready_host(s, "b:80", ip="10.0.0.1")
    s.push(a, "a0")
    s.push(b, "b0")
    first, _ = take(s)
    clock.now += 1
    blocked, _ = take(s)
    assert first is not None and blocked is None
    s.release(first)
    clock.now += 1
    second, _ = take(s)
    assert second is not None and second.job == "b0"


def test_backed_off_host_does_not_block_other_hosts() -> None:
    s, clock = make(rate=1000.0, conc=1)
    slow = ready_host(s, "slow:80")
    fast = ready_host(s, "fast:80")
    s.push(slow, "s0")
    s.push(slow, "s1")
    lease, _ = take(s)
    assert lease is not None and lease.job == "s0"
    s.release(lease, backoff=60.0)  # e.g. a 429
    for i in range(3):
        s.push(fast, f"f{i}")
    served = []
    for _ in range(3):
        clock.now += 0.01
        lease, _ = take(s)
        assert lease is not None
        served.append(lease.job)
        s.release(lease)
    assert served == ["f0", "f1", "f2"]
    clock.now += 0.01
    lease, wait = take(s)
    assert lease is None and wait is not None and 59 < wait <= 60


def test_closed_gate_holds_ordinary_requests_but_not_urgent_ones() -> None:
    s, clock = make(rate=1000.0)
    slot = s.host("a:80")
    s.push(slot, "page")
    s.push(slot, "robots", urgent=True)
    lease, _ = take(s)
    assert lease is not None and lease.job == "robots"
    s.release(lease)
    clock.now += 1
    nothing, _ = take(s)
    assert nothing is None
    s.open_gate(slot)
    lease, _ = take(s)
    assert lease is not None and lease.job == "page"


def test_crawl_delay_widens_the_interval() -> None:
    s, _ = make(rate=2.0, conc=5)
    slot = ready_host(s, "a:80")
    slot.crawl_delay = 3.0
    s.push(slot, "a0")
    s.push(slot, "a1")
    take(s)
    _, wait = take(s)
    assert wait == pytest.approx(3.0)


async def test_lease_waits_for_the_next_ready_host_and_close_releases_waiters() -> None:
    s: Scheduler[str] = Scheduler(Limits(20.0, 1), Limits(100.0, 100))
    slot = ready_host(s, "a:80")
    s.push(slot, "a0")
    s.push(slot, "a1")
    loop = asyncio.get_running_loop()
    first = await s.lease()
    t0 = loop.time()
    assert first is not None
    s.release(first)
    second = await s.lease()
    assert second is not None and second.job == "a1"
    assert loop.time() - t0 >= 0.04  # 20 requests/s → 50 ms spacing
    waiter = asyncio.create_task(s.lease())
    await asyncio.sleep(0.01)
    s.close()
    assert await waiter is None
