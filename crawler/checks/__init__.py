"""Checks that turn parsed pages and crawl observations into findings."""
