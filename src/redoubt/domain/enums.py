"""Closed sets of values shared by every layer."""

from __future__ import annotations

import enum

__all__ = ["MemberRole", "RoomKind", "UserRole"]


class UserRole(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"
    BOT = "bot"
    GUEST = "guest"


class RoomKind(enum.StrEnum):
    CHANNEL = "channel"
    """Public: any user (not guests or bots) can see, read and join it."""
    PRIVATE = "private"
    """Private group: visible only to its members; joining is by invitation."""
    DM = "dm"
    """Direct message between two or more users; membership fixed at creation."""


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"

    @property
    def rank(self) -> int:
        return {"owner": 3, "moderator": 2, "member": 1}[self.value]
