"""The audit log's own trail: who took a copy of it."""

from __future__ import annotations

from typing import Literal

from redoubt.actions._common import audit
from redoubt.core.errors import Forbidden
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.storage.audit import AuditFilter

__all__ = ["do_note_audit_export"]


async def do_note_audit_export(
    ctx: Context,
    *,
    acting_user: Requester,
    export_format: Literal["csv", "jsonl"],
    filters: AuditFilter,
) -> None:
    """Record an export of the audit log (``audit.exported``, with format and filters)
    before any of it is sent: an export that breaks off half way is still on record.

    Raises:
        Forbidden: the caller is not an admin.
    """
    if acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.transaction("audit_export") as txn:
        await audit(
            ctx,
            txn,
            "audit.exported",
            acting_user=acting_user,
            target_type="audit_log",
            target_id=None,
            details={"format": export_format, "filters": filters.described()},
        )
