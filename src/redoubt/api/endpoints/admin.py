"""Admin-only: every account, every channel, the audit log, the security settings."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from redoubt.actions.audit import do_note_audit_export
from redoubt.actions.server_settings import (
    do_set_required_2fa_roles,
    do_set_user_bot_policy,
    role_names,
)
from redoubt.api.deps import Admin, Ctx, scoped
from redoubt.api.schemas import BotSettingsBody, IdStr, SecuritySettingsBody
from redoubt.core.csv_export import csv_row
from redoubt.core.errors import BadRequest
from redoubt.core.ids import format_id
from redoubt.domain.enums import UserRole
from redoubt.domain.scopes import Scope
from redoubt.domain.views import RoomView, UserView
from redoubt.queries.audit import AuditFilter, audit_export_pages, read_audit_log
from redoubt.queries.rooms import list_rooms_for_admin
from redoubt.queries.server_settings import (
    UserBotPolicy,
    read_required_2fa_roles,
    read_user_bot_policy,
)
from redoubt.queries.users import list_users_for_admin, user_view
from redoubt.storage.audit import AuditRecord

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


# Action names and target types are lower-case words joined by "." "_" "-".
_NAME = r"^[a-z0-9][a-z0-9_.\-]*$"
# ISO 8601 with an offset ("Z" or "+02:00"): a time without one would name a different
# instant on every machine. (Unix timestamps and bare dates are refused, not guessed.)
_INSTANT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def _instant(name: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except ValueError:  # the shape is right, the date isn't (month 13, hour 25)
        raise BadRequest(
            f"{name} is not a valid time; use ISO 8601 with an offset, "
            "such as 2025-05-01T00:00:00Z."
        ) from None


async def _audit_filters(
    actor_id: Annotated[IdStr | None, Query(description="Entries by this user id.")] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=_NAME,
            description="Entries whose action starts with this (`hook.`: every webhook "
            "entry; `user.deactivate`: exactly that action).",
        ),
    ] = None,
    target_type: Annotated[
        str | None,
        Query(max_length=64, pattern=_NAME, description="Entries about `user`, `room`, ..."),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=_INSTANT,
            description="Entries at or after this time (ISO 8601 with an offset).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=_INSTANT,
            description="Entries strictly before this time (ISO 8601 with an offset).",
        ),
    ] = None,
) -> AuditFilter:
    start, end = _instant("since", since), _instant("until", until)
    if start is not None and end is not None and start > end:
        raise BadRequest("since must not be later than until.")
    return AuditFilter(
        actor_id=int(actor_id) if actor_id is not None else None,
        action_prefix=action,
        target_type=target_type,
        since=start,
        until=end,
    )


AuditFilters = Annotated[AuditFilter, Depends(_audit_filters)]


def _entry(r: AuditRecord) -> AuditEntry:
    return AuditEntry(
        id=format_id(r.id),
        at=r.at,
        actor_id=format_id(r.actor_id) if r.actor_id else None,
        action=r.action,
        target_type=r.target_type,
        target_id=format_id(r.target_id) if r.target_id else None,
        ip=r.ip,
        details=r.details,
    )


@router.get("/audit", openapi_extra=scoped(Scope.ADMIN), response_model=list[AuditEntry])
async def audit_log(
    admin: Admin,
    ctx: Ctx,
    filters: AuditFilters,
    before: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntry]:
    """Newest first; page with ``before`` (an entry id). Filters combine (all must
    match); a bad filter value is a 400 naming the parameter."""
    rows = await read_audit_log(
        ctx, admin, filters=filters, before_id=int(before) if before else None, limit=limit
    )
    return [_entry(r) for r in rows]


_CSV_COLUMNS = ("id", "at", "actor_id", "action", "target_type", "target_id", "ip", "details")
_EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _export_lines(rows: list[AuditRecord], export_format: str) -> str:
    entries = (_entry(r).model_dump(mode="json") for r in rows)
    if export_format == "jsonl":
        return "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries)
    return "".join(
        csv_row(
            [
                "" if e[c] is None else json.dumps(e[c], sort_keys=True) if c == "details" else e[c]
                for c in _CSV_COLUMNS
            ]
        )
        for e in entries
    )


@router.get(
    "/audit/export",
    openapi_extra=scoped(Scope.ADMIN),
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The matching entries as a file download.",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        }
    },
)
async def export_audit_log(
    admin: Admin,
    ctx: Ctx,
    filters: AuditFilters,
    export_format: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "csv",
) -> StreamingResponse:
    """Every entry matching the filters (the same as ``GET /admin/audit``), newest
    first, as a download: CSV (a header row, then the ``AuditEntry`` fields; ``details``
    as JSON; cells a spreadsheet would run as a formula get a leading ``'``) or JSON
    Lines (one ``AuditEntry`` object a line).

    The export is audited (``audit.exported``, with format and filters) before the
    first entry is read, so the file begins with its own entry when the filters match
    it. Entries written while it downloads are not included.
    """
    await do_note_audit_export(ctx, acting_user=admin, export_format=export_format, filters=filters)
    pages = audit_export_pages(ctx, admin, filters=filters)
    # The first page is read before answering: a failure there is a clean error
    # response instead of a 200 cut short.
    first = await anext(pages, None)

    async def body() -> AsyncIterator[str]:
        if export_format == "csv":
            yield csv_row(list(_CSV_COLUMNS))
        if first is not None:
            yield _export_lines(first, export_format)
        async for page in pages:
            yield _export_lines(page, export_format)

    stamp = ctx.clock.now().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        body(),
        media_type=_EXPORT_TYPES[export_format],
        headers={
            "Content-Disposition": f'attachment; filename="redoubt-audit-{stamp}.{export_format}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/users", openapi_extra=scoped(Scope.ADMIN), response_model=list[UserView])
async def all_users(
    admin: Admin,
    ctx: Ctx,
    after: Annotated[IdStr | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[UserView]:
    """Every account in id order, deactivated ones too; page with ``after`` (a user id)."""
    users = await list_users_for_admin(ctx, admin, limit=limit, after_id=int(after) if after else 0)
    return [user_view(u) for u in users]


@router.get("/rooms", openapi_extra=scoped(Scope.ADMIN), response_model=list[RoomView])
async def all_rooms(
    admin: Admin,
    ctx: Ctx,
    after: Annotated[IdStr | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RoomView]:
    """Every channel in id order; page with ``after`` (a room id). Private groups and DMs
    are visible only to their members, admins included."""
    return await list_rooms_for_admin(ctx, admin, limit=limit, after_id=int(after) if after else 0)


class SecuritySettings(BaseModel):
    require_2fa_roles: list[str]
    """Roles that must use a second factor: a user of one without it gets an
    enrol-only session at login."""


@router.get("/security", response_model=SecuritySettings)
async def get_security(admin: Admin, ctx: Ctx) -> SecuritySettings:
    """The security policy in force: what an admin set, else the deployment config."""
    roles = await read_required_2fa_roles(ctx, admin)
    return SecuritySettings(require_2fa_roles=role_names(roles))


@router.put("/security", response_model=SecuritySettings)
async def put_security(admin: Admin, ctx: Ctx, body: SecuritySettingsBody) -> SecuritySettings:
    """Replace the security policy (audited as ``settings.require_2fa_roles``).

    Existing sessions are not ended: the new policy applies from each user's next
    login.
    """
    roles = await do_set_required_2fa_roles(
        ctx, frozenset(UserRole(r) for r in body.require_2fa_roles), acting_user=admin
    )
    return SecuritySettings(require_2fa_roles=role_names(roles))


class BotSettings(BaseModel):
    users_may_create_bots: bool
    """Whether users may create bots they own (``POST /bots``). Off: no new ones; the
    bots users own already keep working."""
    max_bots_per_user: int
    """How many active bots one user may own through self-service."""


def _bot_settings(policy: UserBotPolicy) -> BotSettings:
    return BotSettings(
        users_may_create_bots=policy.users_may_create_bots,
        max_bots_per_user=policy.max_bots_per_user,
    )


@router.get("/bot-settings", response_model=BotSettings)
async def get_bot_settings(admin: Admin, ctx: Ctx) -> BotSettings:
    """Whether users may create their own bots, and how many: what an admin set, else
    the deployment config."""
    return _bot_settings(await read_user_bot_policy(ctx))


@router.put("/bot-settings", response_model=BotSettings)
async def put_bot_settings(admin: Admin, ctx: Ctx, body: BotSettingsBody) -> BotSettings:
    """Replace the self-service bot policy (audited as ``settings.user_bots``)."""
    policy = await do_set_user_bot_policy(
        ctx,
        UserBotPolicy(
            users_may_create_bots=body.users_may_create_bots,
            max_bots_per_user=body.max_bots_per_user,
        ),
        acting_user=admin,
    )
    return _bot_settings(policy)
