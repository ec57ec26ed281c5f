"""Where results go: the sink interface, the JSONL sink and the Postgres store."""
