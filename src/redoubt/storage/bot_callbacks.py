"""Clicks on bots' inline keyboard buttons (``bot_callbacks``), answered at most once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage._rows import from_row, to_values
from redoubt.storage.schema import bot_callbacks

__all__ = [
    "CallbackRecord",
    "get_callback",
    "insert_callback_txn",
    "mark_answered_txn",
    "prune_callbacks_txn",
]


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    id: str
    message_id: int
    bot_id: int
    user_id: int
    """Who clicked."""
    data: str
    """The button's callback_data."""
    created_at: dt.datetime
    answered_at: dt.datetime | None = None


def _record(row: Any) -> CallbackRecord:
    return from_row(CallbackRecord, row)


async def insert_callback_txn(conn: AsyncConnection, record: CallbackRecord) -> None:
    await conn.execute(insert(bot_callbacks).values(**to_values(record)))


async def get_callback(conn: AsyncConnection, callback_id: str) -> CallbackRecord | None:
    row = (
        await conn.execute(select(bot_callbacks).where(bot_callbacks.c.id == callback_id))
    ).first()
    return _record(row) if row else None


async def mark_answered_txn(conn: AsyncConnection, callback_id: str, at: dt.datetime) -> bool:
    """Mark an unanswered callback answered; False if it was answered already."""
    result = await conn.execute(
        update(bot_callbacks)
        .where(bot_callbacks.c.id == callback_id, bot_callbacks.c.answered_at.is_(None))
        .values(answered_at=at)
    )
    return bool(result.rowcount)


async def prune_callbacks_txn(conn: AsyncConnection, before: dt.datetime) -> int:
    """Delete clicks made before ``before`` (past answering, nothing reads them)."""
    result = await conn.execute(delete(bot_callbacks).where(bot_callbacks.c.created_at < before))
    return int(result.rowcount or 0)
