"""Bot activity monitoring and quarantine (T7).

Every post a bot makes with its token passes :func:`judge_bot_post` inside the post
pipeline (``actions.messages.post_message_txn``, which every posting path uses): a
mass mention, a post to too many rooms within a minute or a flood far above the bot's
own baseline is refused there, and the bot is quarantined. History pages a bot reads
are counted by the query; a burst quarantines it too. A quarantined bot's token keeps
working for reads and is refused for every write (``TokenGrant.quarantined``); its owner
and every admin get a security notice, the audit log a ``bot.quarantined`` row, and
only an admin can release it (``bot.released``).

The one-minute windows are in memory (``ctx.bot_activity``, per process) in the
embedded default, and in Redis (``ctx.bot_windows``, ``core.bot_windows``) in
scale-out, where every process judges the bot on the whole deployment's activity and a
trip sets a marker every process's grant check reads. Hourly counts are per process
either way; :class:`BotActivityRecorder` writes them every few seconds (the baselines)
and applies quarantines at once when woken.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.actions._common import audit
from redoubt.actions.notices import leave_notice_txn
from redoubt.core.background import PeriodicFlush
from redoubt.core.bot_windows import BotWindows
from redoubt.core.errors import Forbidden, NotFound
from redoubt.core.logging import get_logger
from redoubt.domain.bot_activity import (
    ActivityCounts,
    Trip,
    activity_rules,
    history_trip,
    mention_trip,
    post_limits,
    post_trip,
)
from redoubt.domain.botmarkup import CALLBACK_TTL
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import QUARANTINED_MESSAGE
from redoubt.storage import bot_callbacks as callback_store
from redoubt.storage import bots as bot_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.bots import ActivityRow

__all__ = [
    "QUARANTINE_NOTICE",
    "BotActivityRecorder",
    "do_quarantine_bot",
    "do_release_bot",
    "judge_bot_post",
    "note_bot_history",
]

_log = get_logger(__name__)

QUARANTINE_NOTICE = "bot_quarantined"
_BASELINE_DAYS = 7


def _is_bot_token(requester: Requester) -> bool:
    return requester.grant is not None and requester.user.role is UserRole.BOT


async def judge_bot_post(
    ctx: Context,
    conn: AsyncConnection,
    acting_user: Requester,
    room_id: int,
    *,
    mentioned_users: int,
    mentions_room: bool,
) -> None:
    """Judge a post a bot is about to make (a no-op for anyone else).

    Raises:
        Forbidden: the post breaks a rule; it must not be made, and the bot is
            quarantined (at once for this process, in the database moments later).
    """
    if not _is_bot_token(acting_user):
        return
    monitor = ctx.bot_activity
    now = time.monotonic()
    baseline = monitor.baseline(acting_user.id, now)
    if baseline is None:
        since = ctx.clock.now() - dt.timedelta(days=_BASELINE_DAYS)
        baseline = await bot_store.peak_posts_per_minute(conn, acting_user.id, since)
        monitor.set_baseline(acting_user.id, baseline, now)
    members = 0
    if mentions_room:
        members = (await room_store.count_members(conn, [room_id])).get(room_id, 0)
    rules = activity_rules(ctx.settings)
    windows = ctx.bot_windows
    if windows is None:
        trip = monitor.check_post(
            acting_user.id,
            room_id,
            now=now,
            wall=ctx.clock.now(),
            mentioned_users=mentioned_users,
            mentions_room=mentions_room,
            room_members=members,
            baseline=baseline,
            rules=rules,
        )
    else:
        trip = await _judge_shared(
            ctx,
            windows,
            acting_user.id,
            room_id,
            mentioned_users=mentioned_users,
            mentions_room=mentions_room,
            room_members=members,
            baseline=baseline,
        )
    if trip is not None:
        # The post's transaction rolls back with this error: the quarantine is written
        # by the recorder, woken now; until then this process treats the bot as
        # quarantined already (queries.bots.bot_grant), and in scale-out so does every
        # other process (the Redis marker).
        monitor.pending.setdefault(acting_user.id, trip)
        ctx.bot_activity_due.set()
        if windows is not None:
            await windows.mark_quarantined(acting_user.id)
        raise Forbidden(QUARANTINED_MESSAGE)


async def _judge_shared(
    ctx: Context,
    windows: BotWindows,
    bot_id: int,
    room_id: int,
    *,
    mentioned_users: int,
    mentions_room: bool,
    room_members: int,
    baseline: int,
) -> Trip | None:
    """The rules over the deployment-wide windows (one Redis round trip, none for a
    mass mention, which the message alone decides)."""
    rules = activity_rules(ctx.settings)
    trip = mention_trip(
        rules,
        mentioned_users=mentioned_users,
        mentions_room=mentions_room,
        room_members=room_members,
    )
    if trip is not None:
        return trip
    limits = post_limits(rules, baseline)
    counts = await windows.post(bot_id, room_id, max_posts=limits.posts, max_rooms=limits.rooms)
    trip = post_trip(rules, baseline=baseline, posts=counts.posts, rooms=counts.rooms)
    if trip is None:
        ctx.bot_activity.count_post(
            bot_id,
            wall=ctx.clock.now(),
            per_minute=counts.posts,
            rooms=counts.rooms,
            mentions=mentioned_users + (1 if mentions_room else 0),
        )
    return trip


async def do_quarantine_bot(ctx: Context, bot_id: int, trip: Trip) -> bool:
    """Quarantine a bot: its token stops working for writes. The owner and every
    admin get a notice; the audit log gets ``bot.quarantined``.

    Returns:
        False when it was quarantined already (nothing is written then).
    """
    async with ctx.db.transaction("quarantine_bot") as txn:
        conn = txn.conn
        bot = await bot_store.get_bot(conn, bot_id)
        if bot is None:
            return False
        reason = trip.describe()
        if not await bot_store.set_quarantine_txn(conn, bot_id, txn.now, reason):
            return False
        account = await user_store.get_user_by_id(conn, bot_id)
        details: dict[str, object] = {
            "bot_id": str(bot_id),
            "bot": account.username if account else "",
            "owner_id": str(bot.owner_id),
            "rule": trip.reason,
            **trip.facts,
        }
        admins = await user_store.list_active_admin_ids(conn)
        for user_id in sorted({bot.owner_id, *admins}):
            await leave_notice_txn(ctx, txn, user_id, QUARANTINE_NOTICE, details)
        await audit(
            ctx,
            txn,
            "bot.quarantined",
            acting_user=None,
            target_type="bot",
            target_id=bot_id,
            details=details,
        )
    _log.warning("bot_quarantined", bot_id=bot_id, rule=trip.reason)
    return True


async def do_release_bot(ctx: Context, *, acting_user: Requester, bot_id: int) -> bool:
    """Release a quarantined bot (admins only): its token works for writes again, and
    its activity windows start afresh.

    Returns:
        False when it wasn't quarantined (nothing is written then).

    Raises:
        Forbidden: not an admin (or called with a token).
        NotFound: no such (active) bot.
    """
    if acting_user.grant is not None or acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden("Only admins can release a bot.")
    async with ctx.db.transaction("release_bot") as txn:
        bot = await bot_store.get_bot(txn.conn, bot_id)
        account = await user_store.get_user_by_id(txn.conn, bot_id)
        if bot is None or account is None or not account.is_active:
            raise NotFound("No such bot.")
        if not await bot_store.set_quarantine_txn(txn.conn, bot_id, None, ""):
            return False
        await audit(
            ctx,
            txn,
            "bot.released",
            acting_user=acting_user,
            target_type="bot",
            target_id=bot_id,
            details={"reason": bot.quarantine_reason},
        )
    ctx.bot_activity.forget(bot_id)
    if ctx.bot_windows is not None:
        await ctx.bot_windows.forget(bot_id)
    return True


async def note_bot_history(ctx: Context, requester: Requester) -> None:
    """T7: count a page of history (a history page, a thread, a search) a bot has just
    read with its token (a no-op for anyone else); a burst puts it in quarantine
    (written by the activity recorder, woken here; the read itself is answered)."""
    if requester.grant is None or requester.user.role is not UserRole.BOT:
        return
    rules = activity_rules(ctx.settings)
    if ctx.bot_windows is None:
        trip = ctx.bot_activity.note_history(
            requester.id, now=time.monotonic(), wall=ctx.clock.now(), rules=rules
        )
    else:
        # Scale-out: the deployment's window; a trip stops writes on every process.
        pages = await ctx.bot_windows.history_page(requester.id)
        ctx.bot_activity.count_history(requester.id, wall=ctx.clock.now())
        trip = history_trip(rules, pages)
        if trip is not None and ctx.bot_activity.hold(requester.id, trip):
            await ctx.bot_windows.mark_quarantined(requester.id)
        else:
            trip = None
    if trip is not None:
        ctx.bot_activity_due.set()


class BotActivityRecorder:
    """Writes the per-bot hourly counts and applies pending quarantines; runs on the
    same periodic flush as API token usage (``core.background.PeriodicFlush``)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._periodic = PeriodicFlush(
            "bot_activity_flush",
            interval=lambda: ctx.settings.bot_activity_flush_seconds,
            flush=self.flush,
            prune=self.prune,
            wake=ctx.bot_activity_due,
        )

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def flush(self) -> None:
        monitor = self._ctx.bot_activity
        for bot_id, trip in list(monitor.pending.items()):
            await do_quarantine_bot(self._ctx, bot_id, trip)
            if monitor.pending.get(bot_id) is trip:
                del monitor.pending[bot_id]
        counts = monitor.drain()
        if not counts:
            return
        try:
            async with self._ctx.db.transaction("bot_activity") as txn:
                for bot_id, hours in counts.items():
                    if await bot_store.get_bot(txn.conn, bot_id) is None:
                        continue
                    for hour, c in hours.items():
                        await bot_store.add_activity_txn(txn.conn, bot_id, _row(hour, c))
        except Exception:
            monitor.put_back(counts)
            raise

    async def prune(self) -> int:
        days = self._ctx.settings.bot_activity_retention_days
        before = self._ctx.clock.now() - dt.timedelta(days=days)
        async with self._ctx.db.transaction("prune_bot_activity") as txn:
            pruned = await bot_store.prune_activity_txn(txn.conn, before)
            # Clicks on bots' buttons, once too old to be answered.
            clicks_before = self._ctx.clock.now() - 2 * CALLBACK_TTL
            return pruned + await callback_store.prune_callbacks_txn(txn.conn, clicks_before)


def _row(hour: dt.datetime, c: ActivityCounts) -> ActivityRow:
    return ActivityRow(
        hour=hour,
        posts=c.posts,
        peak_posts_per_minute=c.peak_posts_per_minute,
        peak_rooms_per_minute=c.peak_rooms_per_minute,
        mentions=c.mentions,
        history_pages=c.history_pages,
    )
