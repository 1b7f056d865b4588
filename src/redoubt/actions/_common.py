"""Helpers shared by the actions: audit rows and event payloads."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from redoubt.queries.context import Context, Requester
from redoubt.storage.audit import AuditRecord, insert_audit_txn
from redoubt.storage.database import Txn

__all__ = ["audit", "payload"]


async def audit(
    ctx: Context,
    txn: Txn,
    action: str,
    *,
    acting_user: Requester | None,
    target_type: str,
    target_id: int | None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Write one audit row in ``txn`` (``acting_user`` None means the server or CLI)."""
    await insert_audit_txn(
        txn.conn,
        AuditRecord(
            id=ctx.ids.next_id(),
            at=txn.now,
            actor_id=acting_user.id if acting_user else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=ip if ip is not None else (acting_user.ip if acting_user else ""),
            details=details or {},
        ),
    )


def payload(**parts: BaseModel | str | int | None) -> str:
    """Serialise an event's ``data`` object made of views and scalars."""
    out: dict[str, Any] = {}
    for key, value in parts.items():
        out[key] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(out, separators=(",", ":"))
