"""What the previous run learnt about each column's first list page, for tonight's conditional requests.

An unchanged list page costs a 304; its column is then carried over from the previous observation
instead of being parsed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from crawler.checks.freshness import ColumnObservation

# The newest finished run that observed each site's columns, and those observations with the
# validators the server sent for the same URL.
_PRIOR_SQL = """
WITH last AS (
    SELECT DISTINCT ON (co.site) co.site, co.run_id
    FROM column_observations co JOIN runs r ON r.id = co.run_id
    WHERE co.site = ANY($1::text[]) AND r.status IN ('succeeded', 'interrupted')
    ORDER BY co.site, co.run_id DESC
)
SELECT co.site, co.column_url, co.name, co.class, co.newest_date, co.newest_url, co.item_count,
       co.date_source, u.etag, u.last_modified
FROM column_observations co
JOIN last ON last.site = co.site AND last.run_id = co.run_id
JOIN url_state u ON u.site = co.site AND u.url = co.column_url
WHERE u.etag IS NOT NULL OR u.last_modified IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class PriorPage:
    url: str
    etag: str | None
    last_modified: str | None
    column: ColumnObservation

    def conditional_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


async def load_prior_pages(dsn: str, site_codes: Sequence[str]) -> dict[str, PriorPage]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(_PRIOR_SQL, list(site_codes))
    finally:
        await conn.close()
    return {
        row["column_url"]: PriorPage(
            row["column_url"], row["etag"], row["last_modified"],
            ColumnObservation(site=row["site"], url=row["column_url"], name=row["name"],
                              column_class=row["class"], newest_date=row["newest_date"],
                              newest_url=row["newest_url"], item_count=row["item_count"],
                              date_source=_carried(row["date_source"])),
        )
        for row in rows
    }


def _carried(source: str) -> str:
    """Mark a date as carried over from an earlier run (once, however many nights it is carried)."""
    return source if source.startswith("carried:") else f"carried:{source}"
