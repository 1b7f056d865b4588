"""Security notices to users, and the devices each user has logged in from."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage.schema import known_devices, security_notices

__all__ = [
    "NoticeRecord",
    "count_devices",
    "insert_notice_txn",
    "list_notices",
    "mark_notice_read_txn",
    "remember_device_txn",
]


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    id: int
    user_id: int
    kind: str
    details: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None


async def remember_device_txn(
    conn: AsyncConnection, user_id: int, device_key: bytes, now: dt.datetime
) -> bool:
    """Record a login from this device; True when it had never been seen for the user."""
    updated = await conn.execute(
        update(known_devices)
        .where(known_devices.c.user_id == user_id, known_devices.c.device_key == device_key)
        .values(last_seen_at=now)
    )
    if updated.rowcount:
        return False
    await conn.execute(
        insert(known_devices).values(
            user_id=user_id, device_key=device_key, first_seen_at=now, last_seen_at=now
        )
    )
    return True


async def count_devices(conn: AsyncConnection, user_id: int) -> int:
    rows = await conn.execute(
        select(known_devices.c.device_key).where(known_devices.c.user_id == user_id)
    )
    return len(rows.all())


async def insert_notice_txn(conn: AsyncConnection, notice: NoticeRecord) -> None:
    await conn.execute(
        insert(security_notices).values(
            id=notice.id,
            user_id=notice.user_id,
            kind=notice.kind,
            details=json.dumps(notice.details),
            created_at=notice.created_at,
            read_at=notice.read_at,
        )
    )


async def list_notices(conn: AsyncConnection, user_id: int, *, limit: int) -> list[NoticeRecord]:
    rows = await conn.execute(
        select(security_notices)
        .where(security_notices.c.user_id == user_id)
        .order_by(security_notices.c.id.desc())
        .limit(limit)
    )
    return [
        NoticeRecord(
            id=r.id,
            user_id=r.user_id,
            kind=r.kind,
            details=json.loads(r.details),
            created_at=r.created_at,
            read_at=r.read_at,
        )
        for r in rows
    ]


async def mark_notice_read_txn(
    conn: AsyncConnection, user_id: int, notice_id: int, now: dt.datetime
) -> bool:
    """False when the user has no such notice."""
    result = await conn.execute(
        update(security_notices)
        .where(security_notices.c.id == notice_id, security_notices.c.user_id == user_id)
        .values(read_at=now)
    )
    return bool(result.rowcount)
