"""Outgoing webhooks and their deliveries, for admins."""

from __future__ import annotations

from redoubt.core.errors import Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.domain.enums import UserRole
from redoubt.domain.outgoing_hooks import (
    DeliveryStatus,
    DeliveryView,
    HookEvent,
    OutgoingHookView,
)
from redoubt.queries.context import Context, Requester
from redoubt.storage import outgoing_hooks as hook_store
from redoubt.storage.outgoing_hooks import DeliveryRecord, OutgoingHookRecord

__all__ = [
    "delivery_view",
    "ensure_admin",
    "hook_view",
    "list_hook_deliveries",
    "list_outgoing_hooks",
]


def ensure_admin(requester: Requester) -> None:
    """Raises: Forbidden: the requester is not an admin."""
    if requester.user.role is not UserRole.ADMIN:
        raise Forbidden


def hook_view(hook: OutgoingHookRecord) -> OutgoingHookView:
    return OutgoingHookView(
        id=format_id(hook.id),
        name=hook.name,
        url=hook.url,
        room_ids=[format_id(r) for r in hook.room_ids],
        events=[HookEvent(e) for e in hook.events],
        trigger_words=list(hook.trigger_words),
        enabled=hook.enabled,
        disabled_reason=hook.disabled_reason,
        owner_id=format_id(hook.owner_id),
        created_at=hook.created_at,
    )


def delivery_view(delivery: DeliveryRecord) -> DeliveryView:
    return DeliveryView(
        id=format_id(delivery.id),
        event=HookEvent(delivery.event),
        status=DeliveryStatus(delivery.status),
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
    )


async def list_outgoing_hooks(ctx: Context, requester: Requester) -> list[OutgoingHookView]:
    """Every outgoing webhook, oldest first.

    Raises:
        Forbidden: not an admin.
    """
    ensure_admin(requester)
    async with ctx.db.read("list_outgoing_hooks") as conn:
        hooks = await hook_store.list_hooks(conn)
    return [hook_view(h) for h in hooks]


async def list_hook_deliveries(
    ctx: Context, requester: Requester, hook_id: int, *, limit: int, before_id: int | None = None
) -> list[DeliveryView]:
    """A hook's deliveries, newest first (page with ``before_id``).

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook.
    """
    ensure_admin(requester)
    async with ctx.db.read("list_hook_deliveries") as conn:
        if await hook_store.get_hook(conn, hook_id) is None:
            raise NotFound
        deliveries = await hook_store.list_deliveries(
            conn, hook_id, limit=limit, before_id=before_id
        )
    return [delivery_view(d) for d in deliveries]
