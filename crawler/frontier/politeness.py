"""Politeness, owned by one scheduler — never by sleeping fetch tasks.

Each host has a slot (queue, in-flight count, earliest next start, backoff); hosts that share an IP
address (a site-cluster server) also share an IP slot with its own limits. Workers ask the scheduler
for the next *ready* request: a host that must wait sits in a time-ordered heap and holds no worker,
so one slow or throttled host never stalls the rest. The global concurrency cap is the number of
workers. What to do after a response (how long to back off) is the pure `backoff_delay` policy.

Spacing is measured from when a request actually went on the wire, not from when it was leased: on
a busy event loop the two can be tens of milliseconds apart, and pacing from the lease would let a
late request and the next one reach the server back to back. Until a leased request is being written
(`writing`) its IP admits no other start, and until it has been written (`sent`) its host admits
none. (`benchmarks/bench_crawl.py` checks the spacing on the loopback wire, by kernel timestamps.)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

J = TypeVar("J")


def backoff_delay(status: int | None, retry_after: float | None, level: int, *, base: float,
                  cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds a host must rest after a throttling answer (429/503), or 0.

    Retry-After wins when the server gives it; otherwise exponential with "full jitter" between
    half and all of ``base * 2**level``, so many crawlers do not come back in lockstep.
    """
    if status not in (429, 503):
        return 0.0
    if retry_after is not None:
        return min(retry_after, cap)
    ceiling = min(cap, base * (2 ** level))
    return ceiling * (0.5 + 0.5 * rng())


@dataclass(eq=False, slots=True)
class Limits:
    rate: float  # request starts per second
    concurrency: int

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


@dataclass(eq=False, slots=True)
class IpSlot:
    key: str
    limits: Limits
    in_flight: int = 0
    next_start: float = 0.0  # math.inf while a leased request has not gone out yet
    blocked: set[HostSlot] = field(default_factory=set)  # hosts waiting only for this IP


@dataclass(eq=False, slots=True)
class HostSlot(Generic[J]):
    key: str
    limits: Limits
    ip: IpSlot | None = None
    queue: deque[J] = field(default_factory=deque)
    urgent: deque[J] = field(default_factory=deque)  # robots.txt, calibration: run before the gate opens
    gate_open: bool = False  # False until the host is resolved and its robots.txt known
    in_flight: int = 0
    next_start: float = 0.0  # math.inf while a leased request has not gone out yet
    backoff_until: float = 0.0
    backoff_level: int = 0
    crawl_delay: float = 0.0
    in_heap: bool = False
    heap_token: int = 0  # only the newest heap entry of a host counts; older ones are skipped
    requests: int = 0

    @property
    def interval(self) -> float:
        return max(self.limits.interval, self.crawl_delay)

    def has_work(self) -> bool:
        return bool(self.urgent) or (self.gate_open and bool(self.queue))


@dataclass(eq=False, slots=True)
class Lease(Generic[J]):
    job: J
    host: HostSlot[J]
    started: float
    writing_at: float | None = None
    sent_at: float | None = None


class Scheduler(Generic[J]):
    def __init__(self, default_host: Limits, default_ip: Limits,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.default_host = default_host
        self.default_ip = default_ip
        self.clock = clock
        self.hosts: dict[str, HostSlot[J]] = {}
        self.ips: dict[str, IpSlot] = {}
        self._heap: list[tuple[float, int, int, HostSlot[J]]] = []
        self._counter = itertools.count()
        # Idle workers wait here and are woken one at a time: waking all of them (an Event) for each
        # new request cost ~5 % of a crawl's CPU at 64 workers, nearly all of them finding nothing.
        self._idle: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None  # wakes a worker when the earliest host is due
        self._timer_due = math.inf
        self._closed = False
        self.in_flight = 0

    # ------------------------------------------------------------------ host registry

    def host(self, key: str, limits: Limits | None = None) -> HostSlot[J]:
        slot = self.hosts.get(key)
        if slot is None:
            slot = self.hosts[key] = HostSlot(key, limits or self.default_host)
        return slot

    def bind_ip(self, host: HostSlot[J], ip_key: str | None, limits: Limits | None = None) -> None:
        if ip_key is None:
            return
        ip = self.ips.get(ip_key)
        if ip is None:
            ip = self.ips[ip_key] = IpSlot(ip_key, limits or self.default_ip)
        host.ip = ip

    def forget(self, host: HostSlot[J]) -> None:
        """Drop an idle host's slot, so memory follows active hosts, not every host ever seen."""
        if not host.has_work() and not host.queue and host.in_flight == 0 and not host.in_heap:
            self.hosts.pop(host.key, None)

    # ------------------------------------------------------------------ queueing

    def push(self, host: HostSlot[J], job: J, *, urgent: bool = False, front: bool = False) -> None:
        target = host.urgent if urgent else host.queue
        if front:
            target.appendleft(job)
        else:
            target.append(job)
        self._schedule(host)

    def open_gate(self, host: HostSlot[J]) -> None:
        host.gate_open = True
        self._schedule(host)

    def _schedule(self, host: HostSlot[J], *, force: bool = False) -> None:
        if (host.in_heap and not force) or not host.has_work() or host.in_flight >= host.limits.concurrency:
            return
        ready = max(host.next_start, host.backoff_until)
        if ready == math.inf:
            return  # rescheduled by sent()
        self._push_heap(host, ready)

    def _push_heap(self, host: HostSlot[J], ready: float) -> None:
        host.in_heap = True
        host.heap_token += 1
        heapq.heappush(self._heap, (ready, host.heap_token, next(self._counter), host))
        self._wake_one()

    # ------------------------------------------------------------------ leasing

    async def lease(self) -> Lease[J] | None:
        """The next request whose host and IP may start now; None once closed."""
        while not self._closed:
            lease, wait = self._try_lease()
            if lease is not None:
                if self._heap:
                    self._wake_one()  # more may be ready: pass the turn on rather than leave it to a timer
                return lease
            if wait is not None:
                self._wake_in(wait)
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            await waiter
        return None

    def _wake_one(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():  # a worker cancelled while idle leaves a done future behind
                waiter.set_result(None)
                return

    def _wake_in(self, delay: float) -> None:
        due = time.monotonic() + delay
        if self._timer is not None and self._timer_due <= due:
            return  # an earlier wake-up is already set; that worker re-arms for the rest
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = asyncio.get_running_loop().call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer, self._timer_due = None, math.inf
        self._wake_one()

    def _try_lease(self) -> tuple[Lease[J] | None, float | None]:
        now = self.clock()
        while self._heap:
            ready, token, _, host = self._heap[0]
            if ready > now:
                return None, ready - now
            heapq.heappop(self._heap)
            if token != host.heap_token:
                continue  # superseded by a newer entry
            host.in_heap = False
            if not host.has_work() or host.in_flight >= host.limits.concurrency:
                continue  # rescheduled by release()
            ready = max(host.next_start, host.backoff_until)
            if ready > now:
                self._schedule(host)
                continue
            ip = host.ip
            if ip is not None:
                if ip.in_flight >= ip.limits.concurrency or ip.next_start == math.inf:
                    ip.blocked.add(host)
                    continue
                if ip.next_start > now:
                    self._push_heap(host, ip.next_start)
                    continue
                ip.in_flight += 1
                ip.next_start = math.inf
            job = host.urgent.popleft() if host.urgent else host.queue.popleft()
            host.in_flight += 1
            host.requests += 1
            host.next_start = math.inf
            self.in_flight += 1
            return Lease(job, host, now), 0.0
        return None, None

    def writing(self, lease: Lease[J]) -> None:
        """The leased request is being written: its IP's spacing counts from now.

        The other hosts on the IP need not wait for the write to be confirmed (`sent`): holding the IP
        that long kept every host behind it waiting a round of the event loop, and a 2,000-site crawl
        took 40 % longer and 53 % more CPU. Told again for a second write (see `sent`).
        """
        now = self.clock()
        again, lease.writing_at = lease.writing_at is not None, now
        ip = lease.host.ip
        if ip is not None:
            start = now + ip.limits.interval
            ip.next_start = max(ip.next_start, start) if again else start
            self._unblock(ip)

    def sent(self, lease: Lease[J]) -> None:
        """The leased request has been written: the host's spacing counts from now (the IP's too, if later).

        Told again when the client had to write it once more (on a new connection, the pooled one having
        been closed by the server): the spacing then counts from the later write.
        """
        now = self.clock()
        again, lease.sent_at = lease.sent_at is not None, now
        host, ip = lease.host, lease.host.ip
        host.next_start = max(host.next_start, now + host.interval) if again else now + host.interval
        if ip is not None:
            ip.next_start = max(ip.next_start, now + ip.limits.interval)  # still inf while another is leased
        self._schedule(host, force=True)

    def _unblock(self, ip: IpSlot) -> None:
        waiting, ip.blocked = ip.blocked, set()
        for other in waiting:
            self._schedule(other, force=True)

    def release(self, lease: Lease[J], *, backoff: float = 0.0) -> None:
        """The request is over. ``backoff`` > 0 rests the host; 0 after success resets its level."""
        # A request that failed before it was written still used its turn.
        if lease.writing_at is None:
            self.writing(lease)
        if lease.sent_at is None:
            self.sent(lease)
        host = lease.host
        host.in_flight -= 1
        self.in_flight -= 1
        if backoff > 0:
            host.backoff_until = max(host.backoff_until, self.clock() + backoff)
            host.backoff_level += 1
        ip = host.ip
        if ip is not None:
            ip.in_flight -= 1
            self._unblock(ip)
        self._schedule(host, force=True)

    def slow_down(self, host: HostSlot[J], crawl_delay: float) -> None:
        """Apply a Crawl-delay learnt from robots.txt, counting from now."""
        host.crawl_delay = crawl_delay
        host.next_start = max(host.next_start, self.clock() + crawl_delay)
        self._schedule(host, force=True)

    def succeeded(self, host: HostSlot[J]) -> None:
        host.backoff_level = 0

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        while self._idle:
            self._wake_one()

    # ------------------------------------------------------------------ introspection

    def stats(self) -> tuple[int, int, int]:
        """(active hosts, hosts backed off now, queued requests)."""
        now = self.clock()
        backed_off = sum(1 for h in self.hosts.values() if h.backoff_until > now)
        queued = sum(len(h.queue) + len(h.urgent) for h in self.hosts.values())
        return len(self.hosts), backed_off, queued
