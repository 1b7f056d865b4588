"""The audit log, for admins: filtered pages, and every matching entry for an export."""

from __future__ import annotations

from collections.abc import AsyncIterator

from redoubt.core.errors import Forbidden
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.storage.audit import AuditFilter, AuditRecord, list_audit

__all__ = ["EXPORT_PAGE_SIZE", "AuditFilter", "audit_export_pages", "read_audit_log"]

EXPORT_PAGE_SIZE = 500
"""Entries read per query while an export streams (one short read each, so a slow
download never holds a database connection or a snapshot open)."""


def _require_admin(requester: Requester | None) -> None:
    if requester is not None and requester.user.role is not UserRole.ADMIN:
        raise Forbidden


async def read_audit_log(
    ctx: Context,
    requester: Requester | None,
    *,
    filters: AuditFilter | None = None,
    before_id: int | None,
    limit: int,
) -> list[AuditRecord]:
    """Audit entries matching ``filters``, newest first (``requester`` None: the CLI).

    Raises:
        Forbidden: the requester is not an admin.
    """
    _require_admin(requester)
    async with ctx.db.read("read_audit_log") as conn:
        return await list_audit(conn, limit=limit, before_id=before_id, filters=filters)


def audit_export_pages(
    ctx: Context,
    requester: Requester | None,
    *,
    filters: AuditFilter,
    page_size: int = EXPORT_PAGE_SIZE,
) -> AsyncIterator[list[AuditRecord]]:
    """Every entry matching ``filters``, newest first, in pages of ``page_size``.

    The permission check happens here, at the call, not at the first page. Each page is
    its own short read, continuing below the last id seen: entries written while the
    export runs (its own ``audit.exported`` among them, if written after the first page)
    are above the starting point and not included, and none is skipped or repeated.

    Raises:
        Forbidden: the requester is not an admin.
    """
    _require_admin(requester)
    return _pages(ctx, filters, page_size)


async def _pages(
    ctx: Context, filters: AuditFilter, page_size: int
) -> AsyncIterator[list[AuditRecord]]:
    before: int | None = None
    while True:
        async with ctx.db.read("export_audit_log") as conn:
            page = await list_audit(conn, limit=page_size, before_id=before, filters=filters)
        if page:
            yield page
        if len(page) < page_size:
            return
        before = page[-1].id
