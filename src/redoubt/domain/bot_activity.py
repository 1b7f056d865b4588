"""Bot activity monitoring: per-bot sliding windows and the quarantine rules (T7).

Pure bookkeeping, no IO: callers pass the time. Each process keeps one
:class:`BotActivity`; the post path asks :meth:`BotActivity.check_post` before a bot's
message is written, the history reads note each page, and a periodic flush drains the
hourly counts into the ``bot_activity`` table, whose busiest minutes are each bot's
baseline for the flood rule.

The rules are also pure functions of a minute's counts (:func:`mention_trip`,
:func:`post_trip`, :func:`history_trip`): in scale-out the counts come from windows
shared in Redis (``core.bot_windows``) instead of this process's, and
:class:`BotActivity` keeps only the hourly counts, the baseline cache and pending trips.

The rules (thresholds are settings, see docs/bots.md):

* ``flood``: posts in the last minute above ``max(floor, factor * baseline)``, where the
  baseline is the bot's busiest minute of the past week;
* ``many_rooms``: posts to more than N distinct rooms within a minute;
* ``mass_mention``: one message naming more than M users, or ``@all``/``@here`` in a
  room of more than K members;
* ``history_burst``: more than P history pages read within a minute.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from redoubt.core.settings import Settings

__all__ = [
    "ActivityCounts",
    "ActivityRules",
    "BotActivity",
    "PostLimits",
    "Trip",
    "TripReason",
    "activity_rules",
    "history_trip",
    "mention_trip",
    "post_limits",
    "post_trip",
]

_WINDOW = 60.0

TripReason = str
FLOOD = "flood"
MANY_ROOMS = "many_rooms"
MASS_MENTION = "mass_mention"
HISTORY_BURST = "history_burst"


@dataclass(frozen=True, slots=True)
class ActivityRules:
    flood_floor: int
    """Posts per minute below which a bot is never a flood."""
    flood_factor: float
    """A minute's posts above this multiple of the bot's busiest minute is a flood."""
    max_rooms_per_minute: int
    max_mentions: int
    """Users one message may name."""
    room_mention_members: int
    """``@all``/``@here`` is refused in rooms with more members than this."""
    history_pages_per_minute: int


def activity_rules(settings: Settings) -> ActivityRules:
    return ActivityRules(
        flood_floor=settings.bot_flood_floor,
        flood_factor=settings.bot_flood_factor,
        max_rooms_per_minute=settings.bot_max_rooms_per_minute,
        max_mentions=settings.bot_max_mentions,
        room_mention_members=settings.bot_room_mention_members,
        history_pages_per_minute=settings.bot_history_pages_per_minute,
    )


@dataclass(frozen=True, slots=True)
class Trip:
    """A rule a bot broke: the reason code and the figures behind it."""

    reason: TripReason
    facts: dict[str, int | str]

    def describe(self) -> str:
        figures = ", ".join(f"{k}={v}" for k, v in sorted(self.facts.items()))
        return f"{self.reason} ({figures})"


@dataclass(frozen=True, slots=True)
class PostLimits:
    """The most posts, and distinct rooms, a bot may reach within a minute."""

    posts: int
    rooms: int


def post_limits(rules: ActivityRules, baseline: int) -> PostLimits:
    return PostLimits(
        posts=max(rules.flood_floor, int(rules.flood_factor * baseline)),
        rooms=rules.max_rooms_per_minute,
    )


def mention_trip(
    rules: ActivityRules, *, mentioned_users: int, mentions_room: bool, room_members: int
) -> Trip | None:
    """The mass-mention rule, judged on the message alone."""
    if mentioned_users > rules.max_mentions:
        return Trip(MASS_MENTION, {"users": mentioned_users, "limit": rules.max_mentions})
    if mentions_room and room_members > rules.room_mention_members:
        return Trip(
            MASS_MENTION,
            {
                "room_mention": "all/here",
                "members": room_members,
                "limit": rules.room_mention_members,
            },
        )
    return None


def post_trip(rules: ActivityRules, *, baseline: int, posts: int, rooms: int) -> Trip | None:
    """The many-rooms and flood rules, over the minute's counts (the post judged
    included)."""
    limits = post_limits(rules, baseline)
    if rooms > limits.rooms:
        return Trip(MANY_ROOMS, {"rooms": rooms, "limit": limits.rooms})
    if posts > limits.posts:
        return Trip(FLOOD, {"posts_per_minute": posts, "baseline": baseline, "limit": limits.posts})
    return None


def history_trip(rules: ActivityRules, pages: int) -> Trip | None:
    """The history-burst rule, over the pages read in the minute (this one included)."""
    if pages > rules.history_pages_per_minute:
        return Trip(
            HISTORY_BURST, {"pages_per_minute": pages, "limit": rules.history_pages_per_minute}
        )
    return None


@dataclass
class ActivityCounts:
    """One hour of one bot's activity, as counted in memory since the last flush."""

    posts: int = 0
    peak_posts_per_minute: int = 0
    peak_rooms_per_minute: int = 0
    mentions: int = 0
    history_pages: int = 0


@dataclass
class _Bot:
    posts: deque[tuple[float, int]] = field(default_factory=deque)
    """(time, room id) of each post in the last minute."""
    pages: deque[float] = field(default_factory=deque)
    hours: dict[dt.datetime, ActivityCounts] = field(default_factory=dict)
    baseline: int | None = None
    baseline_at: float = 0.0


def _trim(window: deque[tuple[float, int]] | deque[float], now: float) -> None:
    while window:
        first = window[0]
        at = first[0] if isinstance(first, tuple) else first
        if now - at < _WINDOW:
            break
        window.popleft()


class BotActivity:
    """Per-process activity counters of every bot that acted recently."""

    BASELINE_TTL = 600.0
    """Seconds a bot's baseline (read from the database) is trusted before a re-read."""

    def __init__(self) -> None:
        self._bots: dict[int, _Bot] = {}
        self.pending: dict[int, Trip] = {}
        """Trips found outside a write path (history reads), to be applied by the
        flush."""

    def _bot(self, bot_id: int) -> _Bot:
        found = self._bots.get(bot_id)
        if found is None:
            found = self._bots[bot_id] = _Bot()
        return found

    def _hour(self, bot: _Bot, wall: dt.datetime) -> ActivityCounts:
        hour = wall.replace(minute=0, second=0, microsecond=0)
        counts = bot.hours.get(hour)
        if counts is None:
            counts = bot.hours[hour] = ActivityCounts()
        return counts

    def baseline(self, bot_id: int, now: float) -> int | None:
        """The cached baseline, or None when it must be (re-)read."""
        bot = self._bot(bot_id)
        if bot.baseline is None or now - bot.baseline_at > self.BASELINE_TTL:
            return None
        return bot.baseline

    def set_baseline(self, bot_id: int, value: int, now: float) -> None:
        bot = self._bot(bot_id)
        bot.baseline, bot.baseline_at = value, now

    def check_post(
        self,
        bot_id: int,
        room_id: int,
        *,
        now: float,
        wall: dt.datetime,
        mentioned_users: int,
        mentions_room: bool,
        room_members: int,
        baseline: int,
        rules: ActivityRules,
    ) -> Trip | None:
        """Judge a post the bot is about to make, and count it when it passes; a
        :class:`Trip` means the post must not be made and the bot is to be
        quarantined."""
        trip = mention_trip(
            rules,
            mentioned_users=mentioned_users,
            mentions_room=mentions_room,
            room_members=room_members,
        )
        if trip is not None:
            return trip
        bot = self._bot(bot_id)
        _trim(bot.posts, now)
        per_minute = len(bot.posts) + 1
        rooms = len({r for _t, r in bot.posts} | {room_id})
        trip = post_trip(rules, baseline=baseline, posts=per_minute, rooms=rooms)
        if trip is not None:
            return trip
        # Only posts that pass are counted: a refused one doesn't raise the baseline.
        bot.posts.append((now, room_id))
        self.count_post(
            bot_id,
            wall=wall,
            per_minute=per_minute,
            rooms=rooms,
            mentions=mentioned_users + (1 if mentions_room else 0),
        )
        return None

    def count_post(
        self, bot_id: int, *, wall: dt.datetime, per_minute: int, rooms: int, mentions: int
    ) -> None:
        """Add a post that passed to the hour's counts (``per_minute`` and ``rooms``: the
        minute's figures with it, from whichever windows judged it)."""
        counts = self._hour(self._bot(bot_id), wall)
        counts.posts += 1
        counts.mentions += mentions
        counts.peak_posts_per_minute = max(counts.peak_posts_per_minute, per_minute)
        counts.peak_rooms_per_minute = max(counts.peak_rooms_per_minute, rooms)

    def count_history(self, bot_id: int, *, wall: dt.datetime) -> None:
        """Add a page of history to the hour's counts."""
        self._hour(self._bot(bot_id), wall).history_pages += 1

    def note_history(
        self, bot_id: int, *, now: float, wall: dt.datetime, rules: ActivityRules
    ) -> Trip | None:
        """Count a page of history the bot read; a :class:`Trip` on a burst (also kept
        in :attr:`pending` for the flush to apply)."""
        bot = self._bot(bot_id)
        _trim(bot.pages, now)
        bot.pages.append(now)
        self.count_history(bot_id, wall=wall)
        trip = history_trip(rules, len(bot.pages))
        if trip is not None and self.hold(bot_id, trip):
            return trip
        return None

    def hold(self, bot_id: int, trip: Trip) -> bool:
        """Keep a trip for the flush to apply (the first one per bot until applied);
        False when one is held already."""
        if bot_id in self.pending:
            return False
        self.pending[bot_id] = trip
        return True

    def forget(self, bot_id: int) -> None:
        """Start the bot's windows afresh (after an admin releases it)."""
        bot = self._bots.get(bot_id)
        if bot is not None:
            bot.posts.clear()
            bot.pages.clear()
        self.pending.pop(bot_id, None)

    def drain(self) -> dict[int, dict[dt.datetime, ActivityCounts]]:
        """Take the hourly counts gathered since the last drain (to be written)."""
        out: dict[int, dict[dt.datetime, ActivityCounts]] = {}
        for bot_id, bot in list(self._bots.items()):
            if bot.hours:
                out[bot_id], bot.hours = bot.hours, {}
            if not bot.posts and not bot.pages and bot.baseline is None:
                del self._bots[bot_id]
        return out

    def put_back(self, counts: dict[int, dict[dt.datetime, ActivityCounts]]) -> None:
        """Return counts a failed write couldn't store (added to any new ones)."""
        for bot_id, hours in counts.items():
            bot = self._bot(bot_id)
            for hour, c in hours.items():
                mine = bot.hours.setdefault(hour, ActivityCounts())
                mine.posts += c.posts
                mine.mentions += c.mentions
                mine.history_pages += c.history_pages
                mine.peak_posts_per_minute = max(
                    mine.peak_posts_per_minute, c.peak_posts_per_minute
                )
                mine.peak_rooms_per_minute = max(
                    mine.peak_rooms_per_minute, c.peak_rooms_per_minute
                )
