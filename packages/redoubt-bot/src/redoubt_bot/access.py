"""Who may trigger a handler. Deny by default: every handler needs ``allow=``.

Policies judge by ids only (the ids the server writes, digits), never by usernames,
which can be changed or spoofed::

    allow=everyone()
    allow=users("1234", "5678") | roles("admin")
    allow=rooms("42")

``roles(...)`` asks the server for the user's role (cached by the client); if the role
can't be looked up (for instance the bot lacks the ``users:read`` scope) the policy
denies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from redoubt_bot._compat import override
from redoubt_bot.types import Update

__all__ = [
    "KNOWN_ROLES",
    "AnyOf",
    "Everyone",
    "Policy",
    "Roles",
    "Rooms",
    "Users",
    "everyone",
    "roles",
    "rooms",
    "users",
]

KNOWN_ROLES: Final = frozenset({"admin", "user", "guest", "bot"})


class Policy:
    """An access policy. ``allows`` is synchronous and cheap: it runs for every update a
    handler matches. ``role`` is the user's server role when any registered policy needs
    it (``None`` if it couldn't be looked up)."""

    __slots__ = ()

    def needs_role(self) -> bool:
        """Whether ``allows`` looks at the user's role (so dispatch must look it up)."""
        return False

    def allows(self, update: Update, role: str | None) -> bool:  # pragma: no cover
        raise NotImplementedError

    def __or__(self, other: Policy) -> Policy:
        if not isinstance(other, Policy):
            return NotImplemented
        return AnyOf(self, other)


class Everyone(Policy):
    __slots__ = ()

    @override
    def allows(self, update: Update, role: str | None) -> bool:
        return True

    @override
    def __repr__(self) -> str:
        return "everyone()"


class _IdSet(Policy):
    __slots__ = ("ids",)

    _what: str = "ids"

    def __init__(self, ids: Iterable[str | int]) -> None:
        checked: set[str] = set()
        for raw in ids:
            if isinstance(raw, bool) or not isinstance(raw, (str, int)):
                raise TypeError(f"{self._what}() takes ids (strings of digits or ints)")
            value = str(raw)
            if not value.isascii() or not value.isdigit():
                raise ValueError(
                    f"{self._what}() takes ids, not names: {value!r} is not an id "
                    "(usernames can change; allowlists are by id only)"
                )
            checked.add(value)
        if not checked:
            raise ValueError(f"{self._what}() needs at least one id")
        self.ids: frozenset[str] = frozenset(checked)

    @override
    def __repr__(self) -> str:
        return f"{self._what}({', '.join(sorted(self.ids))})"


class Users(_IdSet):
    __slots__ = ()
    _what = "users"

    @override
    def allows(self, update: Update, role: str | None) -> bool:
        return update.user_id in self.ids


class Rooms(_IdSet):
    __slots__ = ()
    _what = "rooms"

    @override
    def allows(self, update: Update, role: str | None) -> bool:
        return update.room_id in self.ids


class Roles(Policy):
    __slots__ = ("roles",)

    @override
    def needs_role(self) -> bool:
        return True

    def __init__(self, names: Iterable[str]) -> None:
        wanted = frozenset(names)
        unknown = wanted - KNOWN_ROLES
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; known: {sorted(KNOWN_ROLES)}")
        if not wanted:
            raise ValueError("roles() needs at least one role")
        self.roles = wanted

    @override
    def allows(self, update: Update, role: str | None) -> bool:
        return role is not None and role in self.roles

    @override
    def __repr__(self) -> str:
        return f"roles({', '.join(sorted(self.roles))})"


class AnyOf(Policy):
    """Allows when any of its parts allows (``a | b``)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Policy) -> None:
        flat: list[Policy] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, AnyOf) else (part,))
        self.parts: tuple[Policy, ...] = tuple(flat)

    @override
    def needs_role(self) -> bool:
        return any(p.needs_role() for p in self.parts)

    @override
    def allows(self, update: Update, role: str | None) -> bool:
        return any(p.allows(update, role) for p in self.parts)

    @override
    def __repr__(self) -> str:
        return " | ".join(repr(p) for p in self.parts)


_EVERYONE: Final = Everyone()


def everyone() -> Policy:
    """Anyone who can reach the bot (members of its rooms, users who DM it)."""
    return _EVERYONE


def users(*ids: str | int) -> Policy:
    """Only these user ids."""
    return Users(ids)


def rooms(*ids: str | int) -> Policy:
    """Only updates from these room ids."""
    return Rooms(ids)


def roles(*names: str) -> Policy:
    """Only users whose server role is one of ``names`` (``admin``, ``user``, ``guest``,
    ``bot``). Needs the bot to be able to read users; denies when it can't."""
    return Roles(names)
