"""The audit log, for admins."""

from __future__ import annotations

from redoubt.core.errors import Forbidden
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.storage.audit import AuditRecord, list_audit

__all__ = ["read_audit_log"]


async def read_audit_log(
    ctx: Context,
    requester: Requester | None,
    *,
    action: str | None,
    before_id: int | None,
    limit: int,
) -> list[AuditRecord]:
    """Audit entries, newest first (``requester`` None: the CLI)."""
    if requester is not None and requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.read("read_audit_log") as conn:
        return await list_audit(conn, limit=limit, before_id=before_id, action=action)
