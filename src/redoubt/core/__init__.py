"""Leaf layer: ids, clock, errors, settings, logging with redaction, rate limits."""
