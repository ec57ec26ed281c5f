"""Frontier: URL normalisation, de-duplication and scheduling of what to fetch next."""
