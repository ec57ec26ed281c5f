"""Closing a shared run: deferred edges become link findings, url_state is folded, the run ends.

All of it is one transaction together with completing the FINALIZE lease: a finalizer that dies
half-way leaves nothing behind, and the next worker to take the lease starts over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import asyncpg
import orjson

from crawler.scale.leases import ATTEMPT_TABLES, BLOCK_BITS, Lease, LeaseLost, complete

# Every deferred edge whose target's verdict in this run is not ok (or every edge, when all links
# are kept), numbered for seq values below zero: workers write from 1 << 32 up, so they never meet.
_JUDGED = """
CREATE TEMP TABLE judged ON COMMIT DROP AS
SELECT e.site, e.source_url, e.target_url, e.anchor_text, e.element, e.on_homepage,
       v.verdict, v.reason, v.status, -row_number() OVER (ORDER BY e.seq) AS seq
FROM run_edges e
JOIN (SELECT DISTINCT ON (url) url, verdict, reason, status FROM fetches
      WHERE run_id = $1 AND kind IN ('page', 'target')
      ORDER BY url, observed_at, seq) v ON v.url = e.target_url
WHERE e.run_id = $1 AND (v.verdict <> 'ok' OR $2)
"""

_LINKS = """
INSERT INTO links (run_id, seq, site, source_url, target_url, anchor_text, element, on_homepage, verdict, reason,
                   observed_at)
SELECT $1, seq, site, source_url, target_url, anchor_text, element, on_homepage, verdict, reason, now()
FROM judged
"""

# The detail keys the engine writes for link findings (Crawl._report_edge).
_FINDINGS = """
INSERT INTO findings (run_id, seq, site, "check", severity, url, detail, observed_at)
SELECT $1, seq, site,
       CASE verdict WHEN 'broken' THEN 'link.broken' ELSE 'link.unverified' END,
       CASE verdict WHEN 'broken' THEN 'error' ELSE 'info' END,
       source_url,
       jsonb_build_object('target', target_url, 'reason', reason, 'status', status, 'element', element,
                          'anchor_text', anchor_text, 'on_homepage', on_homepage),
       now()
FROM judged WHERE verdict <> 'ok'
"""


async def finalize(conn: asyncpg.Connection, lease: Lease, *, keep_all_links: bool) -> dict[str, int]:
    """Finish the run of ``lease`` (a FINALIZE lease); returns the run's counts."""
    async with conn.transaction():
        stored = await conn.fetchval("SELECT counts FROM run_leases WHERE id = $1 AND attempt = $2 AND state = 'done'",
                                     lease.id, lease.attempt)
        if stored is not None:
            return dict(orjson.loads(stored))  # a replay after a lost COMMIT acknowledgement
        winners = [row["block"] for row in await conn.fetch(
            "SELECT blocks[cardinality(blocks)] AS block FROM run_leases WHERE run_id = $1 AND state = 'done'",
            lease.run_id)]
        for table in ATTEMPT_TABLES:
            # Late writes of fenced or presumed-dead attempts: only the attempts that completed count.
            await conn.execute(
                f"DELETE FROM {table} WHERE run_id = $1 AND seq >= 0 AND NOT ((seq >> {BLOCK_BITS}) = ANY($2))",
                lease.run_id, winners)
        await conn.execute("SELECT govcrawl_ensure_partitions(now(), now())")
        await conn.execute(_JUDGED, lease.run_id, keep_all_links)
        await conn.execute(_LINKS, lease.run_id)
        await conn.execute(_FINDINGS, lease.run_id)
        judged = {row["verdict"]: row["n"] for row in await conn.fetch(
            "SELECT verdict, count(*) AS n FROM judged WHERE verdict <> 'ok' GROUP BY verdict")}
        await conn.execute("DELETE FROM run_edges WHERE run_id = $1", lease.run_id)
        counts = _sum([orjson.loads(row["counts"]) for row in await conn.fetch(
            "SELECT counts FROM run_leases WHERE run_id = $1 AND state = 'done' AND phase IN (1, 3)",
            lease.run_id)])
        counts.update({
            "broken_links": counts.get("broken_links", 0) + judged.get("broken", 0),
            "finding_link.broken": counts.get("finding_link.broken", 0) + judged.get("broken", 0),
            "finding_link.unverified": counts.get("finding_link.unverified", 0) + judged.get("unverified", 0),
        })
        await conn.execute("SELECT govcrawl_refresh_url_state($1)", lease.run_id)
        # The lease row before the run row: the order lease renewals lock them in (no deadlock).
        if not await complete(conn, lease, counts):
            raise LeaseLost(lease)  # rolls everything back: the attempt holding the lease now finishes
        await conn.execute(
            """UPDATE runs SET status = 'succeeded', ended_at = now(), heartbeat_at = now(), counts = $2::jsonb
               WHERE id = $1 AND status = 'running'""", lease.run_id, orjson.dumps(counts).decode())
    return counts


def _sum(parts: list[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)
