"""The room authorization matrix: one pure function, tested as a table.

:func:`decide` is the only place that says who may do what in a room. Callers pass what
the server loaded (the caller's account role, the room's kind and state, the caller's
membership), never what a client claimed. ``NOT_FOUND`` is returned wherever the caller
must not learn that the room exists, so "forbidden" and "missing" are indistinguishable
for rooms the caller can't see.

Admins get moderator rights in public channels; they get nothing in private groups or
DMs they are not part of (admins can't read other people's private conversations; the
admin pages manage those rooms through separate, audited actions).
"""

from __future__ import annotations

import enum

from redoubt.domain.enums import MemberRole, RoomKind, UserRole

__all__ = ["RoomAction", "Verdict", "decide", "may_create_room", "may_manage_member"]


class RoomAction(enum.StrEnum):
    READ = "read"
    """See the room, its members and its history."""
    JOIN = "join"
    LEAVE = "leave"
    POST = "post"
    """Post, edit own, react, mark read."""
    INVITE = "invite"
    KICK = "kick"
    UPDATE = "update"
    """Change the topic."""
    ARCHIVE = "archive"
    PIN = "pin"
    DELETE_ANY = "delete_any"
    """Delete messages written by others."""
    SET_MEMBER_ROLE = "set_member_role"


class Verdict(enum.Enum):
    ALLOW = "allow"
    FORBIDDEN = "forbidden"
    ARCHIVED = "archived"
    NOT_FOUND = "not_found"


_WRITES = {
    RoomAction.POST,
    RoomAction.INVITE,
    RoomAction.KICK,
    RoomAction.UPDATE,
    RoomAction.PIN,
    RoomAction.SET_MEMBER_ROLE,
    RoomAction.JOIN,
}
_MODERATION = {
    RoomAction.KICK,
    RoomAction.UPDATE,
    RoomAction.PIN,
    RoomAction.DELETE_ANY,
}


def _visible(user_role: UserRole, kind: RoomKind, member: MemberRole | None) -> bool:
    if member is not None:
        return True
    return kind is RoomKind.CHANNEL and user_role in (UserRole.USER, UserRole.ADMIN)


def decide(  # noqa: PLR0912 - one branch per action is the readable form of the matrix
    user_role: UserRole,
    kind: RoomKind,
    member: MemberRole | None,
    action: RoomAction,
    *,
    archived: bool,
) -> Verdict:
    """Decide whether a user may perform ``action`` in a room.

    Args:
        user_role: The acting account's role.
        kind: The room's kind.
        member: The acting user's role in the room, or None when not a member.
        action: What the user wants to do.
        archived: Whether the room is archived (read-only).

    Returns:
        The verdict; callers map NOT_FOUND to 404, FORBIDDEN/ARCHIVED to 403.
    """
    if not _visible(user_role, kind, member):
        return Verdict.NOT_FOUND
    if archived and action in _WRITES | {RoomAction.DELETE_ANY}:
        return Verdict.ARCHIVED
    is_admin = user_role is UserRole.ADMIN
    is_mod = member is not None and member.rank >= MemberRole.MODERATOR.rank
    is_owner = member is MemberRole.OWNER

    match action:
        case RoomAction.READ:
            allowed = True
        case RoomAction.JOIN:
            allowed = member is not None or (
                kind is RoomKind.CHANNEL and user_role in (UserRole.USER, UserRole.ADMIN)
            )
        case RoomAction.LEAVE:
            allowed = member is not None and kind is not RoomKind.DM
        case RoomAction.POST:
            allowed = member is not None
        case RoomAction.INVITE:
            if kind is RoomKind.DM or user_role is UserRole.GUEST:
                allowed = False
            elif kind is RoomKind.CHANNEL:
                allowed = member is not None or is_admin
            else:
                allowed = is_mod
        case RoomAction.PIN if kind is RoomKind.DM:
            allowed = member is not None
        case _ if action in _MODERATION:
            allowed = kind is not RoomKind.DM and (
                is_mod or (is_admin and kind is RoomKind.CHANNEL)
            )
        case RoomAction.ARCHIVE | RoomAction.SET_MEMBER_ROLE:
            allowed = kind is not RoomKind.DM and (
                is_owner or (is_admin and kind is RoomKind.CHANNEL)
            )
        case _:  # pragma: no cover - every RoomAction is matched above
            allowed = False
    return Verdict.ALLOW if allowed else Verdict.FORBIDDEN


def may_create_room(user_role: UserRole, kind: RoomKind) -> bool:
    """Guests and bots can't create channels or private groups (bots: see bot issue)."""
    if kind is RoomKind.DM:
        return user_role is not UserRole.GUEST
    return user_role in (UserRole.USER, UserRole.ADMIN)


def may_manage_member(
    actor: MemberRole | None, target: MemberRole, *, actor_is_admin: bool
) -> bool:
    """A moderator may act on members below their own rank; owners and admins on anyone."""
    if actor_is_admin or actor is MemberRole.OWNER:
        return True
    return actor is not None and actor.rank > target.rank
