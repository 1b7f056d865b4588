"""Handlers: what an update triggers, and who may trigger it.

Every handler takes ``allow=``, an access policy from :mod:`redoubt_bot.access`; a
handler without one is refused when it is created (deny by default).

Handler groups work as in python-telegram-bot: groups run in ascending order; within a
group the first handler that matches (and whose policy allows the update) runs, and no
other handler of that group; then the next group gets its chance. A handler stops later
groups by raising :class:`~redoubt_bot.errors.StopPropagation`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from redoubt_bot._compat import override
from redoubt_bot.access import Policy
from redoubt_bot.errors import AccessPolicyMissing
from redoubt_bot.filters import ALL, Filter
from redoubt_bot.types import Update, UpdateKind

if TYPE_CHECKING:
    from redoubt_bot.context import Context

__all__ = [
    "CallbackHandler",
    "CommandHandler",
    "Handler",
    "HandlerCallback",
    "MemberHandler",
    "MessageHandler",
    "ReactionHandler",
]

HandlerCallback = Callable[[Update, "Context"], Awaitable[Any]]

_COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,64}")


class Handler:
    """Base class. :meth:`check` is synchronous and must be cheap: it runs for every
    candidate update. It returns ``None`` for "no match", else a match value that
    :meth:`handle` receives (and ``context.match`` shows when it is a regex match).

    ``check`` gets ``hint``: for a message, the command name (lower case, without ``/``)
    or ``None``; for a callback, the resolved button payload. ``me`` is the bot's user
    id and ``role`` the user's role when some policy needs it.
    """

    __slots__ = ("allow", "callback", "kinds")

    #: Command names this handler answers (only command handlers): used to index them.
    commands: frozenset[str] | None = None

    def __init__(
        self,
        callback: HandlerCallback,
        allow: Policy | None,
        kinds: Iterable[UpdateKind],
    ) -> None:
        if allow is None:
            raise AccessPolicyMissing(
                f"{type(self).__name__}({_name(callback)}) has no allow= policy; handlers "
                "are denied by default: pass allow=everyone(), users(...), rooms(...) or "
                "roles(...)"
            )
        if not isinstance(allow, Policy):
            raise TypeError("allow= takes a policy from redoubt_bot.access")
        self.callback = callback
        self.allow = allow
        self.kinds: frozenset[UpdateKind] = frozenset(kinds)

    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        raise NotImplementedError  # pragma: no cover

    async def handle(self, update: Update, context: Context, match: object) -> object:
        return await self.callback(update, context)

    def policies(self) -> Iterator[Policy]:
        """Every policy this handler (and any handler inside it) uses."""
        yield self.allow

    @override
    def __repr__(self) -> str:
        return f"{type(self).__name__}({_name(self.callback)}, allow={self.allow!r})"


def _name(callback: object) -> str:
    return str(getattr(callback, "__qualname__", None) or type(callback).__name__)


class CommandHandler(Handler):
    """``/name args...`` in a new message. ``name`` is one command or several; names are
    matched case-insensitively. ``/name@something`` is not a command for this bot.
    ``filters`` further restricts which messages count (for instance ``filters.DM``)."""

    __slots__ = ("commands", "filter")

    def __init__(
        self,
        command: str | Iterable[str],
        callback: HandlerCallback,
        *,
        allow: Policy | None = None,
        filters: Filter | None = None,
    ) -> None:
        super().__init__(callback, allow, (UpdateKind.MESSAGE,))
        names = [command] if isinstance(command, str) else list(command)
        cleaned = set()
        for name in names:
            low = name.lower().removeprefix("/")
            if not _COMMAND_RE.fullmatch(low):
                raise ValueError(f"invalid command name {name!r}: letters, digits and _")
            cleaned.add(low)
        if not cleaned:
            raise ValueError("CommandHandler needs a command name")
        self.commands: frozenset[str] = frozenset(cleaned)
        self.filter = filters

    @override
    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        if hint not in self.commands:
            return None
        f = self.filter
        if f is None:
            return True
        r = f.check(update, me)
        return r if r else None


class MessageHandler(Handler):
    """New messages that pass ``filter`` (all messages by default); with
    ``edited=True`` also text edits (``edited_only=True``: only edits)."""

    __slots__ = ("filter",)

    def __init__(
        self,
        filter: Filter | None,
        callback: HandlerCallback,
        *,
        allow: Policy | None = None,
        edited: bool = False,
        edited_only: bool = False,
    ) -> None:
        if edited_only:
            kinds: tuple[UpdateKind, ...] = (UpdateKind.EDITED_MESSAGE,)
        elif edited:
            kinds = (UpdateKind.MESSAGE, UpdateKind.EDITED_MESSAGE)
        else:
            kinds = (UpdateKind.MESSAGE,)
        super().__init__(callback, allow, kinds)
        self.filter = filter if filter is not None else ALL

    @override
    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        r = self.filter.check(update, me)
        return r if r else None


class CallbackHandler(Handler):
    """Clicks on the bot's buttons (made with ``context.button``). ``pattern`` is an
    optional predicate on the resolved payload; the handler gets the payload in
    ``context.payload``. Buttons whose token is unknown, expired, used, or meant for
    another user never reach any handler."""

    __slots__ = ("pattern",)

    def __init__(
        self,
        callback: HandlerCallback,
        *,
        allow: Policy | None = None,
        pattern: Callable[[Any], bool] | None = None,
    ) -> None:
        super().__init__(callback, allow, (UpdateKind.CALLBACK,))
        self.pattern = pattern

    @override
    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        p = self.pattern
        if p is None or p(hint):
            return True
        return None


class ReactionHandler(Handler):
    """Reactions added (and, with ``added=None``, removed) on messages the bot can see,
    optionally only some ``emoji``."""

    __slots__ = ("added", "emoji")

    def __init__(
        self,
        callback: HandlerCallback,
        *,
        allow: Policy | None = None,
        emoji: str | Iterable[str] | None = None,
        added: bool | None = True,
    ) -> None:
        super().__init__(callback, allow, (UpdateKind.REACTION,))
        self.emoji: frozenset[str] | None = (
            None if emoji is None else frozenset([emoji] if isinstance(emoji, str) else emoji)
        )
        self.added = added

    @override
    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        r = update.reaction
        if r is None:
            return None
        if self.added is not None and r.added is not self.added:
            return None
        if self.emoji is not None and r.emoji not in self.emoji:
            return None
        return True


class MemberHandler(Handler):
    """Users joining (``joined=True``), leaving (``joined=False``) or both (``None``)
    the bot's rooms."""

    __slots__ = ("joined",)

    def __init__(
        self,
        callback: HandlerCallback,
        *,
        allow: Policy | None = None,
        joined: bool | None = None,
    ) -> None:
        super().__init__(callback, allow, (UpdateKind.MEMBER,))
        self.joined = joined

    @override
    def check(self, update: Update, hint: Any, me: str, role: str | None) -> object:
        m = update.member
        if m is None:
            return None
        if self.joined is not None and m.joined is not self.joined:
            return None
        return True
