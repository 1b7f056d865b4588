"""Login and logout: session tokens are random, shown once, stored hashed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from typing_extensions import override

from redoubt.actions._common import audit, payload
from redoubt.core.errors import Unauthorized
from redoubt.core.tokens import generate_token, hash_token
from redoubt.domain.events import EventType
from redoubt.queries.auth import SESSION_TOKEN_KIND
from redoubt.queries.context import Context, Requester
from redoubt.storage import users as user_store
from redoubt.storage.records import SessionRecord, UserRecord

__all__ = ["LoginResult", "do_login", "do_logout", "do_touch_session"]

_TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    user: UserRecord
    session: SessionRecord

    @override
    def __repr__(self) -> str:
        return f"LoginResult(user={self.user!r}, session_id={self.session.id})"


async def do_login(
    ctx: Context, *, username: str, password: str, ip: str, user_agent: str
) -> LoginResult:
    """Check a username and password and open a new session.

    Unknown user, wrong password and deactivated account fail identically and take
    the same time (a dummy hash is verified when there is no user).

    Raises:
        Unauthorized: the credentials don't open a session.
    """
    async with ctx.db.read("login_lookup") as conn:
        user = await user_store.get_user_by_username(conn, username.lower())
    ok = await ctx.passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        async with ctx.db.transaction("login_failed") as txn:
            await audit(
                ctx,
                txn,
                "auth.login_failed",
                acting_user=None,
                target_type="user",
                target_id=user.id if user else None,
                ip=ip,
            )
        raise Unauthorized("Invalid username or password.")
    async with ctx.db.transaction("login") as txn:
        if user.password_hash and ctx.passwords.needs_rehash(user.password_hash):
            await user_store.update_user_txn(
                txn.conn, user.id, password_hash=await ctx.passwords.hash(password)
            )
        token = generate_token(SESSION_TOKEN_KIND)
        session = SessionRecord(
            id=ctx.ids.next_id(),
            user_id=user.id,
            created_at=txn.now,
            last_seen_at=txn.now,
            expires_at=txn.now + dt.timedelta(hours=ctx.settings.session_lifetime_hours),
            user_agent=user_agent[:256],
            ip=ip[:64],
        )
        await user_store.insert_session_txn(txn.conn, session, hash_token(token))
        await audit(
            ctx,
            txn,
            "auth.login",
            acting_user=None,
            target_type="user",
            target_id=user.id,
            ip=ip,
            details={"session_id": str(session.id)},
        )
    return LoginResult(token=token, user=user, session=session)


async def do_logout(ctx: Context, *, acting_user: Requester) -> None:
    if acting_user.session_id is None:
        return
    async with ctx.db.transaction("logout") as txn:
        await user_store.delete_session_txn(txn.conn, acting_user.session_id)
        await txn.append_event(
            EventType.SESSION_ENDED,
            payload(session_id=str(acting_user.session_id), reason="logout"),
            user_id=acting_user.id,
        )
        await audit(
            ctx,
            txn,
            "auth.logout",
            acting_user=acting_user,
            target_type="session",
            target_id=acting_user.session_id,
        )


async def do_touch_session(ctx: Context, session: SessionRecord) -> None:
    """Record use of a session, at most once a minute (it's a write per request)."""
    now = ctx.clock.now()
    if now - session.last_seen_at < _TOUCH_EVERY:
        return
    async with ctx.db.transaction("touch_session") as txn:
        await user_store.touch_session_txn(txn.conn, session.id, now)
