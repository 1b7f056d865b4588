"""Conversations: a sequence of steps per (room, user), with timeouts.

::

    ASK_NAME, ASK_AGE = "name", "age"

    conv = ConversationHandler(
        entry_points=[CommandHandler("register", start, allow=everyone())],
        states={
            ASK_NAME: [MessageHandler(filters.TEXT & ~filters.COMMAND, got_name, allow=everyone())],
            ASK_AGE: [MessageHandler(filters.regex(r"^\\d+$"), got_age, allow=everyone())],
        },
        fallbacks=[CommandHandler("cancel", cancel, allow=everyone())],
        name="register",              # persisted under this name
        timeout=timedelta(minutes=5), on_timeout=timed_out,
    )

A handler's return value is the next state, :data:`END`, or ``None`` to stay. While a
conversation is in a state, only that state's handlers and the fallbacks are checked: an
update that doesn't match them runs nothing of this conversation (it can't skip ahead to
a later step or replay an earlier one; entry points don't restart it unless
``allow_reentry=True``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from redoubt_bot._compat import override
from redoubt_bot.access import Policy, everyone
from redoubt_bot.handlers import Handler
from redoubt_bot.types import Update, UpdateKind

if TYPE_CHECKING:
    from redoubt_bot.application import Application
    from redoubt_bot.context import Context

__all__ = ["END", "ConversationHandler", "State"]

State = str | int
END: Final = -1
"""Return this from a handler to end the conversation."""

TimeoutCallback = Callable[[Update, "Context"], Awaitable[Any]]

_PASS: Final = everyone()


class _ConvMatch:
    __slots__ = ("handler", "key", "match")

    def __init__(self, handler: Handler, match: object, key: str) -> None:
        self.handler = handler
        self.match = match
        self.key = key


def _by_kind(handlers: Sequence[Handler]) -> dict[UpdateKind, tuple[Handler, ...]]:
    return {k: tuple(h for h in handlers if k in h.kinds) for k in UpdateKind}


class ConversationHandler(Handler):
    """A conversation. Inner handlers each carry their own ``allow=``."""

    __slots__ = (
        "_active",
        "_app",
        "_entry",
        "_last",
        "_states",
        "_timers",
        "allow_reentry",
        "entry_points",
        "fallbacks",
        "name",
        "on_timeout",
        "states",
        "timeout",
    )

    def __init__(
        self,
        entry_points: Sequence[Handler],
        states: Mapping[State, Sequence[Handler]],
        fallbacks: Sequence[Handler] = (),
        *,
        name: str | None = None,
        timeout: timedelta | float | None = None,
        on_timeout: TimeoutCallback | None = None,
        allow_reentry: bool = False,
    ) -> None:
        every = [*entry_points, *fallbacks, *(h for hs in states.values() for h in hs)]
        for h in every:
            if isinstance(h, ConversationHandler):
                raise TypeError("nested conversations are not supported")
            if not isinstance(h, Handler):
                raise TypeError(f"{h!r} is not a handler")
        if not entry_points:
            raise ValueError("a conversation needs entry points")
        if END in states:
            raise ValueError("END is not a state")
        kinds = {k for h in every for k in h.kinds}
        # The conversation itself always "allows": each inner handler's policy decides.
        super().__init__(self._no_callback, _PASS, kinds)
        self.entry_points = tuple(entry_points)
        self.states: dict[State, tuple[Handler, ...]] = {s: tuple(hs) for s, hs in states.items()}
        self.fallbacks = tuple(fallbacks)
        self.name = name
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        if seconds is not None and seconds <= 0:
            raise ValueError("timeout must be positive")
        self.timeout: float | None = seconds
        self.on_timeout = on_timeout
        self.allow_reentry = allow_reentry
        self._entry = _by_kind(self.entry_points)
        reentry = self.entry_points if allow_reentry else ()
        self._states = {
            s: _by_kind([*reentry, *hs, *self.fallbacks]) for s, hs in self.states.items()
        }
        # "room:user" -> [state, deadline (epoch seconds) or None]
        self._active: dict[str, list[Any]] = {}
        self._last: dict[str, Update] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._app: Application | None = None

    @staticmethod
    async def _no_callback(update: Update, context: Context) -> None:  # pragma: no cover
        raise AssertionError("a conversation runs its inner handlers")

    @override
    def policies(self) -> Iterator[Policy]:
        for h in (
            *self.entry_points,
            *self.fallbacks,
            *(h for hs in self.states.values() for h in hs),
        ):
            yield from h.policies()

    # -- state ---------------------------------------------------------------------------

    def attach(self, app: Application) -> None:
        if self._app is not None and self._app is not app:
            raise RuntimeError("a conversation belongs to one application")
        self._app = app

    def load(self, records: Mapping[str, Any]) -> None:
        now = time.time()
        self._active = {}
        for key, rec in records.items():
            if (
                isinstance(rec, list)
                and len(rec) == 2
                and rec[0] in self.states
                and (rec[1] is None or float(rec[1]) > now)
            ):
                self._active[key] = [rec[0], rec[1]]

    def snapshot_value(self, key: str) -> Any:
        """The stored form of ``key``'s state (``None``: no state, delete it)."""
        return self._active.get(key)

    def state_of(self, room_id: str, user_id: str) -> State | None:
        """The current state of ``user_id`` in ``room_id`` (``None``: not in it)."""
        rec = self._active.get(f"{room_id}:{user_id}")
        if rec is None or (rec[1] is not None and rec[1] <= time.time()):
            return None
        state: State = rec[0]
        return state

    def _set(self, key: str, state: State | None, update: Update) -> None:
        app = self._app
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if state is None:
            self._active.pop(key, None)
            self._last.pop(key, None)
        else:
            deadline = None
            if self.timeout is not None:
                deadline = time.time() + self.timeout
                loop = asyncio.get_running_loop()
                self._timers[key] = loop.call_later(self.timeout, self._expire, key, deadline)
                self._last[key] = update
            self._active[key] = [state, deadline]
        if app is not None and self.name is not None:
            app.mark_conversation_dirty(self, key)

    def _expire(self, key: str, deadline: float) -> None:
        self._timers.pop(key, None)
        rec = self._active.get(key)
        if rec is None or rec[1] != deadline:
            return
        update = self._last.pop(key, None)
        del self._active[key]
        app = self._app
        if app is None:
            return
        if self.name is not None:
            app.mark_conversation_dirty(self, key)
        if self.on_timeout is not None and update is not None:
            app.run_conversation_timeout(self.on_timeout, update)
        elif self.name is not None:
            app.request_flush()

    def cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- dispatch ------------------------------------------------------------------------

    @override
    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        key = f"{update.room_id}:{update.user_id}"
        rec = self._active.get(key)
        if rec is not None and (rec[1] is None or rec[1] > time.time()):
            candidates = self._states[rec[0]][update.kind]
        else:
            candidates = self._entry[update.kind]
        for h in candidates:
            m = h.check(update, hint, me, role)
            if m is not None and h.allow.allows(update, role):
                return _ConvMatch(h, m, key)
        return None

    @override
    async def handle(self, update: Update, context: Context, match: object) -> object:
        if not isinstance(match, _ConvMatch):  # pragma: no cover - check() made it
            raise TypeError("a conversation handles only its own matches")
        inner = match.match
        context.match = inner if inner is not True else None
        result = await match.handler.handle(update, context, inner)
        key = match.key
        if result is None:
            rec = self._active.get(key)
            if rec is not None:
                self._set(key, rec[0], update)  # stay; the timeout restarts
        elif result == END:
            self._set(key, None, update)
        elif isinstance(result, (str, int)) and result in self.states:
            self._set(key, result, update)
        else:
            raise ValueError(
                f"{match.handler!r} returned {result!r}, which is not a state of "
                f"conversation {self.name or '?'}"
            )
        return result

    @override
    def __repr__(self) -> str:
        return f"ConversationHandler(name={self.name!r}, states={list(self.states)!r})"


def conversations_in(handlers: Iterable[Handler]) -> list[ConversationHandler]:
    return [h for h in handlers if isinstance(h, ConversationHandler)]
