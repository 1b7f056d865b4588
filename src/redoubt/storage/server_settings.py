"""Deployment-wide settings admins change at run time, one JSON value per key.

A missing row means "never set": the caller falls back to the deployment config.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage.schema import server_settings

__all__ = ["get_setting", "put_setting_txn"]


async def get_setting(conn: AsyncConnection, key: str) -> Any | None:
    """The decoded value stored under ``key``, or None when no admin has set it."""
    raw = await conn.scalar(select(server_settings.c.value).where(server_settings.c.key == key))
    return None if raw is None else json.loads(raw)


async def put_setting_txn(
    conn: AsyncConnection, key: str, value: Any, *, now: dt.datetime, updated_by: int | None
) -> None:
    """Store ``value`` under ``key``, replacing any earlier value.

    One upsert statement (both dialects have ``ON CONFLICT``): two admins saving the
    first value at once can't collide on the primary key; the later commit wins.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {"key": key, "value": json.dumps(value), "updated_at": now, "updated_by": updated_by}
    stmt = dialect.insert(server_settings).values(**row)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[server_settings.c.key],
            set_={
                "value": stmt.excluded.value,
                "updated_at": stmt.excluded.updated_at,
                "updated_by": stmt.excluded.updated_by,
            },
        )
    )
