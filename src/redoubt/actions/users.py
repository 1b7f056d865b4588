"""Accounts: create, deactivate, change role, update profile."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.actions._common import audit, payload
from redoubt.core.errors import BadRequest, Conflict, ErrorCode, Forbidden, NotFound
from redoubt.domain.enums import UserRole
from redoubt.domain.events import EventType
from redoubt.domain.text import is_valid_username
from redoubt.queries.context import Context, Requester
from redoubt.queries.users import user_view
from redoubt.storage import users as user_store
from redoubt.storage.records import UserRecord

__all__ = [
    "MAX_PASSWORD_CHARS",
    "MIN_PASSWORD_CHARS",
    "check_password_policy",
    "do_create_user",
    "do_deactivate_user",
    "do_set_user_role",
    "do_update_profile",
]

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024


def check_password_policy(password: str) -> None:
    """Length limits only for now (the accounts issue adds the common-password list)."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise BadRequest(
            f"Passwords must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long."
        )


def _require_admin(acting_user: Requester | None) -> None:
    if acting_user is not None and acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden


async def do_create_user(
    ctx: Context,
    *,
    username: str,
    display_name: str | None,
    password: str | None,
    role: UserRole,
    acting_user: Requester | None,
) -> UserRecord:
    """Create an account.

    Args:
        password: None creates an account that can't log in with a password (bots).
        acting_user: An admin, or None for the CLI.

    Raises:
        Forbidden: the actor is not an admin.
        BadRequest: invalid username or password.
        Conflict: the username is taken.
    """
    _require_admin(acting_user)
    username = username.lower()
    if not is_valid_username(username):
        raise BadRequest(
            "Usernames are 2-32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    if password is not None:
        check_password_policy(password)
    password_hash = await ctx.passwords.hash(password) if password is not None else None
    async with ctx.db.transaction("create_user") as txn:
        if await user_store.get_user_by_username(txn.conn, username) is not None:
            raise Conflict("That username is taken.", code=ErrorCode.NAME_TAKEN)
        user = UserRecord(
            id=ctx.ids.next_id(),
            username=username,
            display_name=(display_name or username).strip() or username,
            role=role,
            password_hash=password_hash,
            is_active=True,
            created_at=txn.now,
        )
        await user_store.insert_user_txn(txn.conn, user)
        await audit(
            ctx,
            txn,
            "user.create",
            acting_user=acting_user,
            target_type="user",
            target_id=user.id,
            details={"role": role.value},
        )
    return user


async def _load(conn: AsyncConnection, user_id: int) -> UserRecord:
    user = await user_store.get_user_by_id(conn, user_id)
    if user is None:
        raise NotFound
    return user


async def do_deactivate_user(
    ctx: Context, user_id: int, *, acting_user: Requester | None
) -> UserRecord:
    """Deactivate an account: its sessions end at once and its WebSockets close."""
    _require_admin(acting_user)
    async with ctx.db.transaction("deactivate_user") as txn:
        user = await _load(txn.conn, user_id)
        if acting_user is not None and user.id == acting_user.id:
            raise BadRequest("You can't deactivate your own account.")
        await user_store.update_user_txn(txn.conn, user.id, is_active=False)
        ended = await user_store.delete_user_sessions_txn(txn.conn, user.id)
        updated = await _load(txn.conn, user.id)
        await audit(
            ctx,
            txn,
            "user.deactivate",
            acting_user=acting_user,
            target_type="user",
            target_id=user.id,
            details={"sessions_ended": ended},
        )
        await txn.append_event(
            EventType.USER_UPDATED, user_view(updated).model_dump_json(), broadcast=True
        )
    return updated


async def do_set_user_role(
    ctx: Context, user_id: int, role: UserRole, *, acting_user: Requester | None
) -> UserRecord:
    """Change an account's role (bots stay bots; humans can't become bots)."""
    _require_admin(acting_user)
    async with ctx.db.transaction("set_user_role") as txn:
        user = await _load(txn.conn, user_id)
        if (user.role is UserRole.BOT) != (role is UserRole.BOT):
            raise BadRequest("Bot accounts can't change to or from the bot role.")
        if acting_user is not None and user.id == acting_user.id:
            raise BadRequest("You can't change your own role.")
        await user_store.update_user_txn(txn.conn, user.id, role=role)
        # Privilege changed: existing sessions end (the accounts issue rotates them),
        # and so do the event streams opened with them.
        await user_store.delete_user_sessions_txn(txn.conn, user.id)
        await txn.append_event(
            EventType.SESSION_ENDED,
            payload(session_id=None, reason="role_changed"),
            user_id=user.id,
        )
        updated = await _load(txn.conn, user.id)
        await audit(
            ctx,
            txn,
            "user.set_role",
            acting_user=acting_user,
            target_type="user",
            target_id=user.id,
            details={"from": user.role.value, "to": role.value},
        )
        await txn.append_event(
            EventType.USER_UPDATED, user_view(updated).model_dump_json(), broadcast=True
        )
    return updated


async def do_update_profile(
    ctx: Context, *, display_name: str, acting_user: Requester
) -> UserRecord:
    display_name = display_name.strip()
    if not display_name:
        raise BadRequest("The display name can't be empty.")
    async with ctx.db.transaction("update_profile") as txn:
        await user_store.update_user_txn(txn.conn, acting_user.id, display_name=display_name)
        updated = await _load(txn.conn, acting_user.id)
        await txn.append_event(
            EventType.USER_UPDATED, user_view(updated).model_dump_json(), broadcast=True
        )
    return updated
