"""Message filters for :class:`~redoubt_bot.handlers.MessageHandler`, composable with
``&``, ``|`` and ``~``::

    MessageHandler(filters.TEXT & ~filters.COMMAND & filters.DM, echo, allow=everyone())
    MessageHandler(filters.regex(r"^order (\\d+)$"), order, allow=everyone())

A filter looks at the update's message (and the room kind); it returns something truthy
when it matches. :func:`regex` returns the :class:`re.Match`, which the handler gets in
``context.match``. Filters decide *what* a handler reacts to; *who* may trigger it is the
handler's ``allow=`` policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from redoubt_bot._compat import override
from redoubt_bot.types import Message, RoomKind, Update

__all__ = [
    "ALL",
    "CHANNEL",
    "COMMAND",
    "DM",
    "HAS_FILES",
    "MENTIONS_ME",
    "PRIVATE",
    "TEXT",
    "THREAD",
    "Filter",
    "regex",
]


class Filter:
    """Base class: override :meth:`check`."""

    __slots__ = ()

    def check(self, update: Update, me: str) -> object:  # pragma: no cover
        """Truthy if ``update`` passes; ``me`` is the bot's own user id."""
        raise NotImplementedError

    def __and__(self, other: Filter) -> Filter:
        return _And(self, other)

    def __or__(self, other: Filter) -> Filter:
        return _Or(self, other)

    def __invert__(self) -> Filter:
        return _Not(self)


class _And(Filter):
    __slots__ = ("left", "right")

    def __init__(self, left: Filter, right: Filter) -> None:
        self.left = left
        self.right = right

    @override
    def check(self, update: Update, me: str) -> object:
        a = self.left.check(update, me)
        if not a:
            return a
        b = self.right.check(update, me)
        if not b:
            return b
        # Keep a regex match from either side.
        return a if isinstance(a, re.Match) else b

    @override
    def __repr__(self) -> str:
        return f"({self.left!r} & {self.right!r})"


class _Or(Filter):
    __slots__ = ("left", "right")

    def __init__(self, left: Filter, right: Filter) -> None:
        self.left = left
        self.right = right

    @override
    def check(self, update: Update, me: str) -> object:
        return self.left.check(update, me) or self.right.check(update, me)

    @override
    def __repr__(self) -> str:
        return f"({self.left!r} | {self.right!r})"


class _Not(Filter):
    __slots__ = ("inner",)

    def __init__(self, inner: Filter) -> None:
        self.inner = inner

    @override
    def check(self, update: Update, me: str) -> object:
        return not self.inner.check(update, me)

    @override
    def __repr__(self) -> str:
        return f"~{self.inner!r}"


class _OnMessage(Filter):
    """A named test of the update's message (no message: no match)."""

    __slots__ = ("name", "test")

    def __init__(self, name: str, test: Callable[[Message, str], bool]) -> None:
        self.name = name
        self.test = test

    @override
    def check(self, update: Update, me: str) -> object:
        m = update.message
        return m is not None and self.test(m, me)

    @override
    def __repr__(self) -> str:
        return self.name


class _RoomKind(Filter):
    __slots__ = ("kind",)

    def __init__(self, kind: RoomKind) -> None:
        self.kind = kind

    @override
    def check(self, update: Update, me: str) -> object:
        return update.room_kind is self.kind

    @override
    def __repr__(self) -> str:
        return self.kind.name


class _Regex(Filter):
    __slots__ = ("pattern",)

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern

    @override
    def check(self, update: Update, me: str) -> object:
        m = update.message
        if m is None:
            return None
        return self.pattern.search(m.text)

    @override
    def __repr__(self) -> str:
        return f"regex({self.pattern.pattern!r})"


def regex(pattern: str | re.Pattern[str]) -> Filter:
    """Messages whose text matches ``pattern`` (``re.search``); the match is in
    ``context.match``."""
    return _Regex(pattern)


ALL: Final[Filter] = _OnMessage("ALL", lambda _m, _me: True)
"""Any message."""
TEXT: Final[Filter] = _OnMessage("TEXT", lambda m, _me: bool(m.text))
"""Messages with text (commands included; use ``TEXT & ~COMMAND`` for plain text)."""
COMMAND: Final[Filter] = _OnMessage(
    "COMMAND", lambda m, _me: m.text.startswith("/") and len(m.text) > 1
)
"""Messages starting with ``/``."""
DM: Final[Filter] = _RoomKind(RoomKind.DM)
"""Direct messages to the bot."""
CHANNEL: Final[Filter] = _RoomKind(RoomKind.CHANNEL)
"""Public channels."""
PRIVATE: Final[Filter] = _RoomKind(RoomKind.PRIVATE)
"""Private (invite-only) rooms."""
THREAD: Final[Filter] = _OnMessage("THREAD", lambda m, _me: m.thread_id is not None)
"""Messages in a thread."""
HAS_FILES: Final[Filter] = _OnMessage("HAS_FILES", lambda m, _me: bool(m.file_ids))
"""Messages with attachments."""
MENTIONS_ME: Final[Filter] = _OnMessage("MENTIONS_ME", lambda m, me: bool(me) and me in m.mentions)
"""Messages that mention the bot."""
