"""Parse stage: bytes → decoded Document → extracted values (links, meta, dates, list items)."""
