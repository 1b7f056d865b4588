"""Accounts: create, deactivate, change role, update profile, password and email."""

from __future__ import annotations

import contextlib

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.actions._common import account_names, audit, end_sessions_txn
from redoubt.core.errors import BadRequest, Conflict, ErrorCode, Forbidden, NotFound
from redoubt.core.mailer import MailError
from redoubt.core.passwords import check_password_policy
from redoubt.domain.emails import normalise_email
from redoubt.domain.enums import UserRole
from redoubt.domain.events import EventType
from redoubt.queries.context import Context, Requester
from redoubt.queries.users import user_view
from redoubt.storage import users as user_store
from redoubt.storage.records import UserRecord

__all__ = [
    "do_change_password",
    "do_create_user",
    "do_deactivate_user",
    "do_set_email",
    "do_set_user_role",
    "do_update_profile",
]


_EMAIL_TAKEN = "That email address belongs to another account."


def _valid_email(email: str) -> str:
    normalised = normalise_email(email)
    if normalised is None:
        raise BadRequest("That is not an email address we can send to (plain name@domain).")
    return normalised


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
    email: str | None = None,
) -> UserRecord:
    """Create an account.

    Args:
        password: None creates an account that can't log in with a password (bots).
        acting_user: An admin, or None for the CLI.
        email: Where password reset links go (optional; normalised, unique).

    Raises:
        Forbidden: the actor is not an admin.
        BadRequest: invalid username or password.
        Conflict: the username is taken.
    """
    _require_admin(acting_user)
    username, display_name = account_names(username, display_name)
    if password is not None:
        check_password_policy(password, username=username, display_name=display_name)
    email = _valid_email(email) if email is not None else None
    password_hash = await ctx.passwords.hash(password) if password is not None else None
    async with ctx.db.transaction("create_user") as txn:
        if await user_store.get_user_by_username(txn.conn, username) is not None:
            raise Conflict("That username is taken.", code=ErrorCode.NAME_TAKEN)
        if email is not None and await user_store.get_user_by_email(txn.conn, email) is not None:
            raise Conflict(_EMAIL_TAKEN)
        user = UserRecord(
            id=ctx.ids.next_id(),
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            is_active=True,
            created_at=txn.now,
            email=email,
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


async def _require_current_password(
    ctx: Context, acting_user: Requester, password: str, *, failed: str
) -> None:
    """A signed-in user proves they know their password before a sensitive change (a
    session alone is not enough).

    Raises:
        Forbidden: it is wrong; audited as ``failed``, nothing else happens.
    """
    if await ctx.passwords.verify(acting_user.user.password_hash, password):
        return
    async with ctx.db.transaction(failed) as txn:
        await audit(
            ctx,
            txn,
            failed,
            acting_user=acting_user,
            target_type="user",
            target_id=acting_user.id,
            details={"reason": "wrong_current_password"},
        )
    raise Forbidden("The current password is wrong.")


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
        ended = await end_sessions_txn(txn, user.id, reason="deactivated", announce=False)
        updated = await _load(txn.conn, user.id)
        await audit(
            ctx,
            txn,
            "user.deactivate",
            acting_user=acting_user,
            target_type="user",
            target_id=user.id,
            details={"sessions_ended": len(ended)},
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
        # Privilege changed: existing sessions end, and the event streams opened with
        # them; the user logs in again into a session of the new role.
        await end_sessions_txn(txn, user.id, reason="role_changed")
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


async def do_change_password(
    ctx: Context, *, current_password: str, new_password: str, acting_user: Requester
) -> int:
    """Change the caller's own password; every other session of theirs ends.

    The current password is required even though the caller is signed in: a stolen
    session (an unlocked laptop, a leaked token) must not be enough to take the account
    over for good. The session making the change stays; every other one is deleted and
    its event streams close, so whoever else was signed in is out at once. Returns how
    many sessions ended.

    The current password is checked before anything else is looked at, so a caller who
    doesn't know it learns nothing, not even whether the new one would pass the policy.

    Raises:
        Forbidden: the current password is wrong (audited; nothing changes).
        BadRequest: the new password breaks the policy or equals the current one.
        Conflict: the password was changed by another request meanwhile.
    """
    user = acting_user.user
    verified_hash = user.password_hash
    await _require_current_password(
        ctx, acting_user, current_password, failed="user.password_change_failed"
    )
    if new_password == current_password:
        raise BadRequest("The new password must differ from the current one.")
    check_password_policy(new_password, username=user.username, display_name=user.display_name)
    # Hash outside the transaction: on SQLite a transaction holds the write lock, and
    # Argon2 is deliberately slow.
    new_hash = await ctx.passwords.hash(new_password)
    async with ctx.db.transaction("change_password") as txn:
        current = await _load(txn.conn, user.id)
        # The check above was against the hash loaded with the session; if another
        # request changed the password since, this one proved the old password only.
        if current.password_hash != verified_hash:
            raise Conflict("The password was changed meanwhile; try again.")
        await user_store.update_user_txn(txn.conn, user.id, password_hash=new_hash)
        # Every other session ends; the one that made the change stays open.
        ended = await end_sessions_txn(
            txn, user.id, reason="password_changed", keep=acting_user.session_id
        )
        await audit(
            ctx,
            txn,
            "user.password_change",
            acting_user=acting_user,
            target_type="user",
            target_id=user.id,
            details={"sessions_ended": len(ended)},
        )
    return len(ended)


async def do_set_email(
    ctx: Context, *, email: str | None, current_password: str, acting_user: Requester
) -> str | None:
    """Set (or, with None, remove) the caller's email address; returns the stored form.

    The address decides where password reset links go, so changing it is as sensitive
    as changing the password: the current password is required, and a stolen session
    alone can't redirect the account's resets to an attacker. The old address, if any,
    is told about the change (in the background), so a takeover doesn't go unnoticed.

    Raises:
        Forbidden: the current password is wrong (audited), or the account's password
            is not ours (directory accounts).
        BadRequest: not an address we accept.
        Conflict: another account has it.
    """
    user = acting_user.user
    if user.auth_source != "local":
        raise Forbidden("Directory accounts take their email address from the directory.")
    await _require_current_password(
        ctx, acting_user, current_password, failed="user.email_change_failed"
    )
    new = _valid_email(email) if email is not None else None
    async with ctx.db.transaction("set_email") as txn:
        current = await _load(txn.conn, user.id)
        if current.password_hash != user.password_hash:
            raise Conflict("The password was changed meanwhile; try again.")
        if new is not None and new != current.email:
            holder = await user_store.get_user_by_email(txn.conn, new)
            if holder is not None:
                raise Conflict(_EMAIL_TAKEN)
        await user_store.update_user_txn(txn.conn, user.id, email=new)
        await audit(
            ctx,
            txn,
            "user.email_change",
            acting_user=acting_user,
            target_type="user",
            target_id=user.id,
            details={"had_email": current.email is not None, "has_email": new is not None},
        )
    if current.email is not None and current.email != new:
        ctx.background.spawn(
            _tell_old_address(ctx, current.email, user.username), name="email_change_notice"
        )
    return new


async def _tell_old_address(ctx: Context, old_email: str, username: str) -> None:
    with contextlib.suppress(MailError):
        await ctx.mailer.send(
            old_email,
            "The email address of your Redoubt account changed",
            f'The email address of the account "{username}" on {ctx.settings.public_url} '
            "was changed, and this address will no longer receive its password reset "
            "links.\n\nIf you didn't do this, contact your administrator at once.\n",
        )
