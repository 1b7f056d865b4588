"""Resolving a session token to the requester."""

from __future__ import annotations

from redoubt.core.errors import Unauthorized
from redoubt.core.tokens import hash_token, is_well_formed
from redoubt.queries.context import Context, Requester
from redoubt.storage import users as user_store
from redoubt.storage.records import SessionRecord

__all__ = ["SESSION_TOKEN_KIND", "authenticate"]

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
    if session.expires_at <= ctx.clock.now() or not user.is_active:
        raise Unauthorized
    return Requester(user=user, session_id=session.id, ip=ip), session
