"""Reads and permission-checked lookups: ``access_<noun>(ctx, requester, id)``."""
