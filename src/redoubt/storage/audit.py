"""The audit log: every security-relevant action writes one row in its transaction."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.storage._rows import from_row, to_values
from redoubt.storage.schema import audit_log

__all__ = ["AuditRecord", "insert_audit_txn", "list_audit"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor_id: int | None
    action: str
    target_type: str
    target_id: int | None
    ip: str
    details: dict[str, Any]


async def insert_audit_txn(conn: AsyncConnection, record: AuditRecord) -> None:
    await conn.execute(
        insert(audit_log).values(
            **{**to_values(record), "details": json.dumps(record.details, sort_keys=True)}
        )
    )


async def list_audit(
    conn: AsyncConnection,
    *,
    limit: int,
    before_id: int | None = None,
    action: str | None = None,
    actor_id: int | None = None,
) -> list[AuditRecord]:
    query = select(audit_log)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if actor_id is not None:
        query = query.where(audit_log.c.actor_id == actor_id)
    rows = await conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))
    return [from_row(AuditRecord, r, details=json.loads) for r in rows]
