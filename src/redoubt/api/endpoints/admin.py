"""Admin-only reads: the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from redoubt.api.deps import Admin, Ctx
from redoubt.core.ids import format_id
from redoubt.queries.audit import read_audit_log

router = APIRouter(prefix="/admin", tags=["admin"])


class AuditEntry(BaseModel):
    id: str
    at: dt.datetime
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    ip: str
    details: dict[str, Any]


@router.get("/audit", response_model=list[AuditEntry])
async def audit_log(
    admin: Admin,
    ctx: Ctx,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntry]:
    """Newest first; page with ``before`` (an entry id)."""
    rows = await read_audit_log(
        ctx, admin, action=action, before_id=int(before) if before else None, limit=limit
    )
    return [
        AuditEntry(
            id=format_id(r.id),
            at=r.at,
            actor_id=format_id(r.actor_id) if r.actor_id else None,
            action=r.action,
            target_type=r.target_type,
            target_id=format_id(r.target_id) if r.target_id else None,
            ip=r.ip,
            details=r.details,
        )
        for r in rows
    ]
