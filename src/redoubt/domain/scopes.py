"""What an API token may do: scopes, and the grant a token-authenticated request carries.

A session login acts with all of its user's rights. A token acts with the intersection
of its owner's rights (checked as for the owner, by the same code) and its grant: the
scopes named at creation and, optionally, a list of rooms. Routes declare the scope
they need; a route that declares none is for session logins only (token management,
password, second factor, sessions), so a new route is closed to tokens until someone
decides otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["READ_SCOPES", "TOKEN_SCOPES_ADMIN_ONLY", "Scope", "TokenGrant"]


class Scope(enum.StrEnum):
    MESSAGES_READ = "messages:read"
    """Rooms you're in, their history, threads, files, search, the event stream."""
    MESSAGES_WRITE = "messages:write"
    """Post, edit and delete your messages, react, pin, upload, mark read, typing."""
    ROOMS_MANAGE = "rooms:manage"
    """Create rooms and DMs, join and leave, invite and remove members, topic, archive."""
    USERS_READ = "users:read"
    """The user directory, profiles and presence."""
    ADMIN = "admin"
    """The admin routes; only for tokens of admins (and only while they are admins)."""

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Scope.MESSAGES_READ: "Read rooms you're in, history, files, search and live events",
    Scope.MESSAGES_WRITE: "Post, edit and delete your messages, react, pin and upload",
    Scope.ROOMS_MANAGE: "Create, join and leave rooms; invite and remove members",
    Scope.USERS_READ: "Look up users and presence",
    Scope.ADMIN: "Use the admin routes (admins only)",
}

TOKEN_SCOPES_ADMIN_ONLY = frozenset({Scope.ADMIN})
READ_SCOPES = frozenset({Scope.MESSAGES_READ, Scope.USERS_READ})
"""Scopes whose routes only read: the ones a quarantined bot keeps."""


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What the token behind a request was granted."""

    token_id: int
    scopes: frozenset[Scope]
    room_ids: frozenset[int] | None
    """None: every room the owner may use."""
    quarantined: bool = False
    """A bot's token while the bot is quarantined (T7): reads only. Every write is
    refused: routes whose scope isn't in :data:`READ_SCOPES`, Bot API methods that
    aren't reads, and any room action but reading (``queries.rooms.enforce``)."""

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes

    def allows_room(self, room_id: int) -> bool:
        return self.room_ids is None or room_id in self.room_ids
