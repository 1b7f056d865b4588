"""Rows to records and records to column values, for records whose fields are columns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Row

__all__ = ["from_row", "to_values"]

R = TypeVar("R")


def from_row(cls: type[R], row: Row[Any], **convert: Callable[[Any], Any]) -> R:
    """Build the dataclass ``cls`` from the same-named columns of ``row``.

    ``convert`` maps a field name to a function applied to its column value (enums).
    """
    mapping = row._mapping
    data = {f.name: mapping[f.name] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    for name, fn in convert.items():
        data[name] = fn(data[name])
    return cls(**data)


def to_values(record: Any) -> dict[str, Any]:
    """Column values for an insert of a record (a shallow, field-by-field copy)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
