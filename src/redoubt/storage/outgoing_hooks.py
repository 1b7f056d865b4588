"""Outgoing webhooks, the rooms they watch, and their outbox (``webhook_deliveries``).

The outbox rows are written in the transaction of the event they announce, so an
event that committed has its deliveries, and one that rolled back has none. A worker
*claims* due rows (a lease in ``locked_until`` and one more attempt counted), sends
them outside any transaction, and records the result only while its claim still
stands (the attempt count it set is unchanged): a worker that died mid-send leaves its
rows to be claimed again once the lease runs out, which makes delivery at least once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import override

from redoubt.storage.schema import outgoing_hook_rooms, outgoing_hooks, webhook_deliveries

__all__ = [
    "ClaimedDelivery",
    "DeliveryRecord",
    "OutgoingHookRecord",
    "any_due_delivery",
    "claim_due_deliveries_txn",
    "delete_hook_txn",
    "disable_hook_txn",
    "enabled_hooks_for_room",
    "get_hook",
    "insert_deliveries_txn",
    "insert_hook_txn",
    "list_deliveries",
    "list_hooks",
    "prune_deliveries_txn",
    "record_attempt_txn",
    "release_claims_txn",
    "replace_hook_rooms_txn",
    "update_hook_txn",
]


@dataclass(frozen=True, slots=True)
class OutgoingHookRecord:
    id: int
    owner_id: int
    name: str
    url: str
    secret_enc: bytes
    """AES-GCM ciphertext of the signing secret, bound to ``outgoing_hook:<id>``."""
    events: list[str]
    trigger_words: list[str]
    enabled: bool
    disabled_reason: str
    created_at: dt.datetime
    room_ids: list[int]

    @override
    def __repr__(self) -> str:  # the ciphertext (and the URL's query) stay out of logs
        return f"OutgoingHookRecord(id={self.id}, name={self.name!r}, enabled={self.enabled})"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    hook_id: int
    event: str
    body: str
    status: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    locked_until: dt.datetime | None
    delivered_at: dt.datetime | None
    last_status_code: int | None
    last_error: str


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker now holds, with what it needs to send it."""

    delivery: DeliveryRecord
    hook_name: str
    hook_url: str
    hook_secret_enc: bytes
    hook_owner_id: int

    @override
    def __repr__(self) -> str:
        return f"ClaimedDelivery(id={self.delivery.id}, hook_id={self.delivery.hook_id})"


_HOOK_COLUMNS = (
    outgoing_hooks.c.id,
    outgoing_hooks.c.owner_id,
    outgoing_hooks.c.name,
    outgoing_hooks.c.url,
    outgoing_hooks.c.secret_enc,
    outgoing_hooks.c.events,
    outgoing_hooks.c.trigger_words,
    outgoing_hooks.c.enabled,
    outgoing_hooks.c.disabled_reason,
    outgoing_hooks.c.created_at,
)


def _hook(row: Any, room_ids: Sequence[int]) -> OutgoingHookRecord:
    return OutgoingHookRecord(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        url=row.url,
        secret_enc=bytes(row.secret_enc),
        events=json.loads(row.events),
        trigger_words=json.loads(row.trigger_words),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        created_at=row.created_at,
        room_ids=sorted(room_ids),
    )


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        hook_id=row.hook_id,
        event=row.event,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        locked_until=row.locked_until,
        delivered_at=row.delivered_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
    )


async def _room_ids_of(conn: AsyncConnection, hook_ids: Sequence[int]) -> dict[int, list[int]]:
    if not hook_ids:
        return {}
    rows = await conn.execute(
        select(outgoing_hook_rooms.c.hook_id, outgoing_hook_rooms.c.room_id).where(
            outgoing_hook_rooms.c.hook_id.in_(hook_ids)
        )
    )
    out: dict[int, list[int]] = {h: [] for h in hook_ids}
    for hook_id, room_id in rows:
        out[hook_id].append(room_id)
    return out


# --- hooks -----------------------------------------------------------------------------


async def insert_hook_txn(conn: AsyncConnection, hook: OutgoingHookRecord) -> None:
    await conn.execute(
        insert(outgoing_hooks).values(
            id=hook.id,
            owner_id=hook.owner_id,
            name=hook.name,
            url=hook.url,
            secret_enc=hook.secret_enc,
            events=json.dumps(hook.events),
            trigger_words=json.dumps(hook.trigger_words),
            enabled=hook.enabled,
            disabled_reason=hook.disabled_reason,
            created_at=hook.created_at,
        )
    )
    await replace_hook_rooms_txn(conn, hook.id, hook.room_ids)


async def replace_hook_rooms_txn(
    conn: AsyncConnection, hook_id: int, room_ids: Sequence[int]
) -> None:
    await conn.execute(delete(outgoing_hook_rooms).where(outgoing_hook_rooms.c.hook_id == hook_id))
    if room_ids:
        await conn.execute(
            insert(outgoing_hook_rooms),
            [{"hook_id": hook_id, "room_id": r} for r in sorted(set(room_ids))],
        )


async def update_hook_txn(conn: AsyncConnection, hook_id: int, **values: Any) -> None:
    """Change columns of a hook (``events``/``trigger_words`` as lists)."""
    for key in ("events", "trigger_words"):
        if key in values:
            values[key] = json.dumps(values[key])
    if values:
        await conn.execute(
            update(outgoing_hooks).where(outgoing_hooks.c.id == hook_id).values(**values)
        )


async def disable_hook_txn(conn: AsyncConnection, hook_id: int, reason: str) -> bool:
    """Turn a hook off; False when it was off (or gone) already, so only one caller
    disables it (and tells its owner)."""
    result = await conn.execute(
        update(outgoing_hooks)
        .where(outgoing_hooks.c.id == hook_id, outgoing_hooks.c.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason)
    )
    return bool(result.rowcount)


async def delete_hook_txn(conn: AsyncConnection, hook_id: int) -> None:
    """Delete a hook with its room list and its outbox rows (sent or not)."""
    await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.hook_id == hook_id))
    await conn.execute(delete(outgoing_hook_rooms).where(outgoing_hook_rooms.c.hook_id == hook_id))
    await conn.execute(delete(outgoing_hooks).where(outgoing_hooks.c.id == hook_id))


async def get_hook(conn: AsyncConnection, hook_id: int) -> OutgoingHookRecord | None:
    row = (
        await conn.execute(select(*_HOOK_COLUMNS).where(outgoing_hooks.c.id == hook_id))
    ).one_or_none()
    if row is None:
        return None
    return _hook(row, (await _room_ids_of(conn, [hook_id]))[hook_id])


async def list_hooks(conn: AsyncConnection) -> list[OutgoingHookRecord]:
    rows = (await conn.execute(select(*_HOOK_COLUMNS).order_by(outgoing_hooks.c.id))).all()
    rooms = await _room_ids_of(conn, [r.id for r in rows])
    return [_hook(r, rooms[r.id]) for r in rows]


async def enabled_hooks_for_room(conn: AsyncConnection, room_id: int) -> list[OutgoingHookRecord]:
    """The enabled hooks watching ``room_id``: one SELECT on the primary key of
    ``outgoing_hook_rooms`` (room_id first), which finds nothing in most rooms.
    ``room_ids`` of the records holds only ``room_id``."""
    rows = (
        await conn.execute(
            select(*_HOOK_COLUMNS)
            .select_from(
                outgoing_hook_rooms.join(
                    outgoing_hooks, outgoing_hooks.c.id == outgoing_hook_rooms.c.hook_id
                )
            )
            .where(outgoing_hook_rooms.c.room_id == room_id, outgoing_hooks.c.enabled.is_(True))
            .order_by(outgoing_hooks.c.id)
        )
    ).all()
    return [_hook(r, [room_id]) for r in rows]


# --- the outbox ------------------------------------------------------------------------


async def insert_deliveries_txn(
    conn: AsyncConnection, deliveries: Sequence[DeliveryRecord]
) -> None:
    if not deliveries:
        return
    await conn.execute(
        insert(webhook_deliveries),
        [
            {
                "id": d.id,
                "hook_id": d.hook_id,
                "event": d.event,
                "body": d.body,
                "status": d.status,
                "attempts": d.attempts,
                "created_at": d.created_at,
                "next_attempt_at": d.next_attempt_at,
                "locked_until": d.locked_until,
                "delivered_at": d.delivered_at,
                "last_status_code": d.last_status_code,
                "last_error": d.last_error,
            }
            for d in deliveries
        ],
    )


def _due(now: dt.datetime) -> Any:
    wd = webhook_deliveries
    return and_(
        wd.c.status == "pending",
        wd.c.next_attempt_at <= now,
        or_(wd.c.locked_until.is_(None), wd.c.locked_until < now),
        outgoing_hooks.c.enabled.is_(True),
    )


async def any_due_delivery(conn: AsyncConnection, now: dt.datetime) -> bool:
    """Whether a claim would find anything: a read, so that an idle worker's polls
    never take SQLite's write lock."""
    wd = webhook_deliveries
    row = (
        await conn.execute(
            select(wd.c.id)
            .select_from(wd.join(outgoing_hooks, outgoing_hooks.c.id == wd.c.hook_id))
            .where(_due(now))
            .limit(1)
        )
    ).first()
    return row is not None


async def claim_due_deliveries_txn(
    conn: AsyncConnection, *, now: dt.datetime, lease_until: dt.datetime, limit: int
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries of enabled hooks, oldest due first.

    Due: pending, ``next_attempt_at`` reached, and no live claim (never claimed, or the
    claimant's lease ran out). Each claimed row gets ``locked_until = lease_until`` and
    one more attempt. On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so
    workers of several processes claim disjoint sets without waiting on each other;
    SQLite has one writer at a time already.

    A disabled hook's pending deliveries wait: enabling it again sends them.
    """
    wd = webhook_deliveries
    query = (
        select(
            wd,
            outgoing_hooks.c.name.label("hook_name"),
            outgoing_hooks.c.url,
            outgoing_hooks.c.secret_enc,
            outgoing_hooks.c.owner_id,
        )
        .select_from(wd.join(outgoing_hooks, outgoing_hooks.c.id == wd.c.hook_id))
        .where(_due(now))
        .order_by(wd.c.next_attempt_at, wd.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=wd)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    await conn.execute(
        update(wd)
        .where(wd.c.id.in_([r.id for r in rows]))
        .values(locked_until=lease_until, attempts=wd.c.attempts + 1)
    )
    out = []
    for row in rows:
        record = _delivery(row)
        claimed = dataclasses.replace(
            record, attempts=record.attempts + 1, locked_until=lease_until
        )
        out.append(
            ClaimedDelivery(
                delivery=claimed,
                hook_name=row.hook_name,
                hook_url=row.url,
                hook_secret_enc=bytes(row.secret_enc),
                hook_owner_id=row.owner_id,
            )
        )
    return out


async def record_attempt_txn(
    conn: AsyncConnection,
    delivery: DeliveryRecord,
    *,
    status: str,
    next_attempt_at: dt.datetime,
    delivered_at: dt.datetime | None,
    last_status_code: int | None,
    last_error: str,
) -> bool:
    """Store the outcome of the attempt ``delivery`` was claimed for, and release the
    claim. False when the claim no longer stands (the lease ran out and another worker
    claimed the row, or the row was delivered or deleted meanwhile): nothing changes."""
    wd = webhook_deliveries
    result = await conn.execute(
        update(wd)
        .where(
            and_(
                wd.c.id == delivery.id,
                wd.c.attempts == delivery.attempts,
                wd.c.status == "pending",
            )
        )
        .values(
            status=status,
            next_attempt_at=next_attempt_at,
            delivered_at=delivered_at,
            last_status_code=last_status_code,
            last_error=last_error,
            locked_until=None,
        )
    )
    return bool(result.rowcount)


async def release_claims_txn(conn: AsyncConnection, deliveries: Sequence[DeliveryRecord]) -> None:
    """Give back claims that were never attempted (their hook was disabled meanwhile):
    the rows wait, uncounted, for the hook to be enabled again."""
    wd = webhook_deliveries
    for d in deliveries:
        await conn.execute(
            update(wd)
            .where(wd.c.id == d.id, wd.c.attempts == d.attempts, wd.c.status == "pending")
            .values(locked_until=None, attempts=wd.c.attempts - 1)
        )


async def list_deliveries(
    conn: AsyncConnection, hook_id: int, *, limit: int, before_id: int | None = None
) -> list[DeliveryRecord]:
    """A hook's deliveries, newest first."""
    query = select(webhook_deliveries).where(webhook_deliveries.c.hook_id == hook_id)
    if before_id is not None:
        query = query.where(webhook_deliveries.c.id < before_id)
    rows = await conn.execute(query.order_by(webhook_deliveries.c.id.desc()).limit(limit))
    return [_delivery(r) for r in rows]


async def prune_deliveries_txn(conn: AsyncConnection, before: dt.datetime, *, limit: int) -> int:
    """Delete up to ``limit`` finished (delivered or failed) deliveries made before
    ``before``; pending ones stay whatever their age. Returns how many went."""
    wd = webhook_deliveries
    old = (
        select(wd.c.id)
        .where(wd.c.status.in_(("delivered", "failed")), wd.c.created_at < before)
        .limit(limit)
        .scalar_subquery()
    )
    result = await conn.execute(delete(wd).where(wd.c.id.in_(old)))
    return int(result.rowcount or 0)
