"""Creating, rotating and revoking API tokens; recording what they do and raising
alerts when a token is used from somewhere new or far more than it used to be."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from redoubt.actions._common import audit
from redoubt.actions.notices import leave_notice_txn
from redoubt.core.background import PeriodicFlush
from redoubt.core.errors import BadRequest, Conflict, Forbidden, NotFound
from redoubt.core.logging import get_logger
from redoubt.core.tokens import generate_token, hash_token, token_hint
from redoubt.domain.enums import UserRole
from redoubt.domain.permissions import RoomAction
from redoubt.domain.scopes import Scope
from redoubt.domain.tokens import network_of, parse_networks, rate_jumped
from redoubt.queries.api_tokens import PAT_KIND
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import access_room_conn
from redoubt.storage import api_tokens as token_store
from redoubt.storage import users as user_store
from redoubt.storage.api_tokens import ApiTokenRecord
from redoubt.storage.database import Txn

__all__ = [
    "MAX_LIVE_TOKENS",
    "NEW_NETWORK_NOTICE",
    "RATE_JUMP_NOTICE",
    "TokenUsage",
    "do_create_token",
    "do_revoke_token",
    "do_rotate_token",
]

_log = get_logger(__name__)

MAX_LIVE_TOKENS = 50
MAX_ROOMS = 100
NEW_NETWORK_NOTICE = "token_new_network"
RATE_JUMP_NOTICE = "token_rate_jump"
_HISTORY_HOURS = 7 * 24


def _refuse_token_caller(acting_user: Requester) -> None:
    # The routes are session-only already; this is the second lock on the same door.
    if acting_user.grant is not None:
        raise Forbidden("API tokens can't manage tokens; sign in.")


def _expiry(ctx: Context, now: dt.datetime, days: int | None) -> dt.datetime | None:
    """``days`` None: the default; 0: never (only where the admin allows it)."""
    settings = ctx.settings
    if days is None:
        days = settings.api_token_default_days
        if settings.api_token_max_days is not None:
            days = min(days, settings.api_token_max_days)
    if days < 0:
        raise BadRequest("The expiry can't be in the past.")
    if days == 0:
        if settings.api_token_max_days is not None:
            raise BadRequest(
                f"Tokens must expire, within {settings.api_token_max_days} days at most."
            )
        return None
    if settings.api_token_max_days is not None and days > settings.api_token_max_days:
        raise BadRequest(f"Tokens expire within {settings.api_token_max_days} days at most.")
    return now + dt.timedelta(days=days)


async def do_create_token(
    ctx: Context,
    *,
    acting_user: Requester,
    name: str,
    scopes: list[Scope],
    room_ids: list[int] | None,
    networks: list[str] | None,
    expires_in_days: int | None,
) -> tuple[ApiTokenRecord, str]:
    """Create a personal access token for the acting user.

    Returns:
        The token's record and the token itself (shown once, stored only hashed).

    Raises:
        Forbidden: called with a token, or asking for rights the owner lacks.
        BadRequest: bad scopes, expiry or address ranges; a room the owner can't read.
        Conflict: too many live tokens.
    """
    _refuse_token_caller(acting_user)
    if not scopes:
        raise BadRequest("Choose at least one scope.")
    if Scope.ADMIN in scopes and acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden("Only admins can give a token the admin scope.")
    try:
        parsed_networks = None if networks is None else parse_networks(networks)
    except ValueError as exc:
        raise BadRequest(f"Allowed addresses: {exc}.") from None
    if parsed_networks == ():
        parsed_networks = None
    if room_ids is not None and len(room_ids) > MAX_ROOMS:
        raise BadRequest(f"At most {MAX_ROOMS} rooms.")
    secret = generate_token(PAT_KIND)
    async with ctx.db.transaction("create_token") as txn:
        live = [
            t
            for t in await token_store.list_tokens(txn.conn, user_id=acting_user.id, kind=PAT_KIND)
            if t.revoked_at is None and (t.expires_at is None or t.expires_at > txn.now)
        ]
        if len(live) >= MAX_LIVE_TOKENS:
            raise Conflict(f"You have {MAX_LIVE_TOKENS} live tokens; revoke some first.")
        for room_id in room_ids or ():
            # A token never reaches further than its owner: only rooms they can read.
            try:
                await access_room_conn(txn.conn, acting_user, room_id, RoomAction.READ)
            except NotFound:
                raise BadRequest("A listed room doesn't exist or isn't yours.") from None
        record = ApiTokenRecord(
            id=ctx.ids.next_id(),
            user_id=acting_user.id,
            kind=PAT_KIND,
            name=name,
            token_hash=hash_token(secret),
            hint=token_hint(secret),
            scopes=tuple(sorted({s.value for s in scopes})),
            room_ids=None if room_ids is None else tuple(dict.fromkeys(room_ids)),
            networks=parsed_networks,
            created_at=txn.now,
            expires_at=_expiry(ctx, txn.now, expires_in_days),
        )
        await token_store.insert_token_txn(txn.conn, record)
        await _audit_token(ctx, txn, "token.created", acting_user, record)
    return record, secret


async def do_rotate_token(
    ctx: Context, *, acting_user: Requester, token_id: int, grace_hours: int
) -> tuple[ApiTokenRecord, str]:
    """Issue a successor with the same grants; the old token stays valid for
    ``grace_hours`` (0: it stops now), so deployments can switch without downtime.

    Raises:
        NotFound: no such live token of the acting user's.
        BadRequest: a grace period beyond the admin's maximum.
    """
    _refuse_token_caller(acting_user)
    if not 0 <= grace_hours <= ctx.settings.api_token_max_grace_hours:
        raise BadRequest(
            f"The grace period is 0 to {ctx.settings.api_token_max_grace_hours} hours."
        )
    secret = generate_token(PAT_KIND)
    async with ctx.db.transaction("rotate_token") as txn:
        old = await token_store.get_token(txn.conn, token_id)
        if (
            old is None
            or old.user_id != acting_user.id
            or old.kind != PAT_KIND
            or old.revoked_at is not None
            or old.replaced_by is not None
            or (old.expires_at is not None and old.expires_at <= txn.now)
        ):
            raise NotFound
        lifetime = None if old.expires_at is None else old.expires_at - old.created_at
        expires_at = None if lifetime is None else txn.now + lifetime
        if ctx.settings.api_token_max_days is not None:
            cap = txn.now + dt.timedelta(days=ctx.settings.api_token_max_days)
            expires_at = cap if expires_at is None else min(expires_at, cap)
        new = ApiTokenRecord(
            id=ctx.ids.next_id(),
            user_id=old.user_id,
            kind=old.kind,
            name=old.name,
            token_hash=hash_token(secret),
            hint=token_hint(secret),
            scopes=old.scopes,
            room_ids=old.room_ids,
            networks=old.networks,
            created_at=txn.now,
            expires_at=expires_at,
        )
        await token_store.insert_token_txn(txn.conn, new)
        grace_end = txn.now + dt.timedelta(hours=grace_hours)
        if old.expires_at is not None:
            grace_end = min(grace_end, old.expires_at)
        await token_store.supersede_token_txn(
            txn.conn, old.id, replaced_by=new.id, expires_at=grace_end
        )
        await _audit_token(
            ctx,
            txn,
            "token.rotated",
            acting_user,
            new,
            previous=str(old.id),
            grace_hours=grace_hours,
        )
    return new, secret


async def do_revoke_token(ctx: Context, *, acting_user: Requester, token_id: int) -> None:
    """Revoke a token at once: one's own, or anyone's for an admin (admin route).

    Raises:
        NotFound: no such token (or another user's, for a non-admin).
    """
    _refuse_token_caller(acting_user)
    async with ctx.db.transaction("revoke_token") as txn:
        record = await token_store.get_token(txn.conn, token_id)
        is_admin = acting_user.user.role is UserRole.ADMIN
        if record is None or (record.user_id != acting_user.id and not is_admin):
            raise NotFound
        if not await token_store.revoke_token_txn(txn.conn, token_id, txn.now):
            return  # already revoked: nothing changes, nothing to audit
        await _audit_token(ctx, txn, "token.revoked", acting_user, record)


async def _audit_token(
    ctx: Context,
    txn: Txn,
    action: str,
    acting_user: Requester,
    record: ApiTokenRecord,
    **extra: object,
) -> None:
    await audit(
        ctx,
        txn,
        action,
        acting_user=acting_user,
        target_type="api_token",
        target_id=record.id,
        details={
            "name": record.name,
            "owner_id": str(record.user_id),
            "scopes": list(record.scopes),
            "expires_at": record.expires_at.isoformat() if record.expires_at else None,
            **extra,
        },
    )


# --- usage ------------------------------------------------------------------------


@dataclass
class _Pending:
    counts: defaultdict[tuple[dt.datetime, str, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    last_at: dt.datetime | None = None
    last_ip: str = ""


class TokenUsage:
    """What tokens did, counted in memory and written every few seconds.

    Counting costs a dict update per request; the flush writes per token one row per
    (hour, address range, operation), sets last use, and raises the alerts:

    * used from an address range the token was never used from (after its first one);
    * an hour's requests far above the token's own hourly average of the week before.

    Each alert is a notice to the owner and to every admin, and an audit row. A crash
    loses at most one interval of counts, never a token's validity or its audit trail.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._pending: dict[int, _Pending] = {}
        self._lock = asyncio.Lock()
        self._periodic = PeriodicFlush(
            "token_usage_flush",
            interval=lambda: ctx.settings.api_token_usage_flush_seconds,
            flush=self.flush,
            prune=self.prune,
        )

    def note(self, token_id: int, *, ip: str, operation: str) -> None:
        now = self._ctx.clock.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        pending = self._pending.get(token_id)
        if pending is None:
            pending = self._pending[token_id] = _Pending()
        pending.counts[(hour, network_of(ip), operation[:128])] += 1
        pending.last_at = now
        pending.last_ip = ip[:64]

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def prune(self) -> int:
        """Forget request counts past the retention period; returns the rows deleted."""
        days = self._ctx.settings.api_token_usage_retention_days
        before = self._ctx.clock.now() - dt.timedelta(days=days)
        async with self._ctx.db.transaction("prune_token_usage") as txn:
            return await token_store.prune_usage_txn(txn.conn, before)

    async def flush(self) -> None:
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                async with self._ctx.db.transaction("token_usage") as txn:
                    for token_id, item in pending.items():
                        await self._flush_one(txn, token_id, item)
            except Exception:
                # Put the counts back for the next try (a token deleted meanwhile
                # can't be the cause: tokens are revoked, never deleted).
                for token_id, item in pending.items():
                    mine = self._pending.setdefault(token_id, _Pending())
                    for key, n in item.counts.items():
                        mine.counts[key] += n
                    if mine.last_at is None:
                        mine.last_at, mine.last_ip = item.last_at, item.last_ip
                raise

    async def _flush_one(self, txn: Txn, token_id: int, item: _Pending) -> None:
        conn = txn.conn
        record = await token_store.get_token(conn, token_id)
        if record is None:
            return
        known = await token_store.known_networks(conn, token_id)
        await token_store.add_usage_txn(
            conn, token_id, [(h, net, op, n) for (h, net, op), n in item.counts.items()]
        )
        if item.last_at is not None:
            await token_store.set_last_used_txn(conn, token_id, item.last_at, item.last_ip)
        new_networks = sorted({net for (_h, net, _op) in item.counts} - known)
        if known and new_networks:
            await self._alert(
                txn,
                record,
                NEW_NETWORK_NOTICE,
                {"network": new_networks[0], "ip": item.last_ip, "known": sorted(known)[:10]},
            )
        await self._check_rate(txn, record, item)

    async def _check_rate(self, txn: Txn, record: ApiTokenRecord, item: _Pending) -> None:
        settings = self._ctx.settings
        if record.rate_alert_at is not None and txn.now - record.rate_alert_at < dt.timedelta(
            days=1
        ):
            return
        hours = {h for (h, _net, _op) in item.counts}
        current_hour = max(hours)
        week_ago = current_hour - dt.timedelta(hours=_HISTORY_HOURS)
        totals = await token_store.hour_totals(txn.conn, record.id, week_ago)
        current = totals.get(current_hour, 0)
        # The token's own history: each full hour it existed in the week before, with
        # the quiet hours as zeros (a token a day old has 24 hours of history).
        created_hour = record.created_at.replace(minute=0, second=0, microsecond=0)
        first = max(week_ago, created_hour)
        span = int((current_hour - first) / dt.timedelta(hours=1))
        history = [totals.get(first + dt.timedelta(hours=i), 0) for i in range(max(span, 0))]
        if not history:
            return  # no history yet: nothing to compare with
        if rate_jumped(
            current,
            history,
            factor=settings.api_token_rate_alert_factor,
            floor=settings.api_token_rate_alert_floor,
        ):
            await token_store.mark_rate_alert_txn(txn.conn, record.id, txn.now)
            await self._alert(
                txn,
                record,
                RATE_JUMP_NOTICE,
                {"requests": current, "hourly_average": round(sum(history) / len(history), 1)},
            )

    async def _alert(
        self, txn: Txn, record: ApiTokenRecord, kind: str, facts: dict[str, object]
    ) -> None:
        ctx = self._ctx
        owner = await user_store.get_user_by_id(txn.conn, record.user_id)
        details = {
            "token_id": str(record.id),
            "token_name": record.name,
            "owner": owner.username if owner else "",
            **facts,
        }
        admins = await user_store.list_active_admin_ids(txn.conn)
        for user_id in sorted({record.user_id, *admins}):
            await leave_notice_txn(ctx, txn, user_id, kind, details)
        await audit(
            ctx,
            txn,
            f"token.alert.{kind.removeprefix('token_')}",
            acting_user=None,
            target_type="api_token",
            target_id=record.id,
            details=details,
            ip=str(facts.get("ip", "")),
        )
        _log.warning("token_alert", kind=kind, token_id=record.id)
