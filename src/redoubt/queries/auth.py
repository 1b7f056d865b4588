"""Resolving a session token to the requester."""

from __future__ import annotations

from redoubt.core.errors import Unauthorized
from redoubt.core.tokens import hash_token, is_well_formed
from redoubt.queries.context import Context, Requester
from redoubt.storage import users as user_store
from redoubt.storage.records import SessionRecord

__all__ = ["SESSION_TOKEN_KIND", "authenticate"]

SESSION_TOKEN_KIND = "ses"  # noqa: S105  # nosec B105 - a token type tag, not a secret


async def authenticate(ctx: Context, token: str, *, ip: str) -> tuple[Requester, SessionRecord]:
    """Resolve a session token.

    Raises:
        Unauthorized: malformed, unknown or expired token, or a deactivated user. The
            message is the same in every case.
    """
    if not is_well_formed(token, SESSION_TOKEN_KIND):
        raise Unauthorized
    async with ctx.db.read("authenticate") as conn:
        session = await user_store.get_session_by_token_hash(conn, hash_token(token))
        if session is None or session.expires_at <= ctx.clock.now():
            raise Unauthorized
        user = await user_store.get_user_by_id(conn, session.user_id)
    if user is None or not user.is_active:
        raise Unauthorized
    return Requester(user=user, session_id=session.id, ip=ip), session
