"""Invariant checks that survive ``python -O`` (unlike ``assert``)."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["InvariantError", "expect"]

T = TypeVar("T")


class InvariantError(RuntimeError):
    """Something the code guarantees did not hold: a bug, reported as a 500."""


def expect(value: T | None, what: str) -> T:
    """Return ``value``, or raise :class:`InvariantError` naming ``what`` when it is None."""
    if value is None:
        raise InvariantError(f"expected {what}")
    return value
