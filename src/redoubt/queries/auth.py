"""Resolving a session token to the requester."""

from __future__ import annotations

import datetime as dt

from redoubt.core.errors import NotFound, Unauthorized
from redoubt.core.settings import session_limits
from redoubt.core.tokens import hash_token, is_well_formed
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.storage import users as user_store
from redoubt.storage.records import SessionRecord

__all__ = ["SESSION_TOKEN_KIND", "authenticate", "list_sessions"]

# A token type tag (the "ses" in rdt_ses_...), not a secret.
SESSION_TOKEN_KIND = "ses"  # noqa: S105  # nosec B105


async def authenticate(ctx: Context, token: str, *, ip: str) -> tuple[Requester, SessionRecord]:
    """Resolve a session token.

    Raises:
        Unauthorized: malformed, unknown or expired token, or a deactivated user. The
            message is the same in every case.
    """
    if not is_well_formed(token, SESSION_TOKEN_KIND):
        raise Unauthorized
    async with ctx.db.read("authenticate") as conn:
        found = await user_store.get_session_and_user(conn, hash_token(token))
    if found is None:
        raise Unauthorized
    session, user = found
    now = ctx.clock.now()
    _lifetime, idle_minutes = session_limits(ctx.settings, user.role.value)
    if (
        session.expires_at <= now
        or now - session.last_seen_at > dt.timedelta(minutes=idle_minutes)
        or not user.is_active
    ):
        raise Unauthorized
    return Requester(user=user, session_id=session.id, ip=ip), session


async def list_sessions(ctx: Context, requester: Requester, user_id: int) -> list[SessionRecord]:
    """A user's live sessions (expired and idle ones are left out): their own, or any
    user's for an admin.

    Raises:
        NotFound: another user's sessions, asked for by a non-admin.
    """
    if user_id != requester.id and requester.user.role is not UserRole.ADMIN:
        raise NotFound
    async with ctx.db.read("list_sessions") as conn:
        user = await user_store.get_user_by_id(conn, user_id)
        if user is None:
            raise NotFound
        found = await user_store.list_user_sessions(conn, user_id)
    now = ctx.clock.now()
    _lifetime, idle_minutes = session_limits(ctx.settings, user.role.value)
    idle = dt.timedelta(minutes=idle_minutes)
    return [s for s in found if s.expires_at > now and now - s.last_seen_at <= idle]
