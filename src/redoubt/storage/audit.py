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

__all__ = ["AuditFilter", "AuditRecord", "insert_audit_txn", "list_audit"]


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


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to read; every field set must match (None: any)."""

    actor_id: int | None = None
    action_prefix: str | None = None
    """Actions starting with this, literally (``hook.`` finds every webhook entry;
    ``%`` and ``_`` are plain characters here)."""
    target_type: str | None = None
    since: dt.datetime | None = None
    """Entries at or after this time."""
    until: dt.datetime | None = None
    """Entries strictly before this time."""

    def described(self) -> dict[str, str]:
        """The filters that are set, as text (for the audit row of an export)."""
        out: dict[str, str] = {}
        if self.actor_id is not None:
            out["actor_id"] = str(self.actor_id)
        if self.action_prefix is not None:
            out["action"] = self.action_prefix
        if self.target_type is not None:
            out["target_type"] = self.target_type
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.until is not None:
            out["until"] = self.until.isoformat()
        return out


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
    filters: AuditFilter | None = None,
) -> list[AuditRecord]:
    """Entries matching ``filters``, newest (highest id) first, below ``before_id``.

    Paging by id (keyset) rather than by offset: a page boundary stays put while new
    entries are written, so paging never skips or repeats one.
    """
    f = filters or AuditFilter()
    query = select(audit_log)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    if f.action_prefix is not None:
        query = query.where(audit_log.c.action.startswith(f.action_prefix, autoescape=True))
    if f.actor_id is not None:
        query = query.where(audit_log.c.actor_id == f.actor_id)
    if f.target_type is not None:
        query = query.where(audit_log.c.target_type == f.target_type)
    if f.since is not None:
        query = query.where(audit_log.c.at >= f.since)
    if f.until is not None:
        query = query.where(audit_log.c.at < f.until)
    rows = await conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))
    return [from_row(AuditRecord, r, details=json.loads) for r in rows]
