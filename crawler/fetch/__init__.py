"""Fetch stage: addresses, HTTP, and the translation of every transport failure to a reason."""
