"""Security notices: "a new device logged in to your account", and reading them.

A device is the browser family (the user agent with its version numbers removed, so
an update isn't a new device) plus the address, kept only as an HMAC under the server
key: enough to recognise it again, nothing to learn from a leaked database.
"""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

from redoubt.actions._common import audit
from redoubt.core.errors import NotFound
from redoubt.core.mailer import MailError
from redoubt.queries.context import Context, Requester
from redoubt.storage import notices as notice_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.notices import NoticeRecord
from redoubt.storage.records import UserRecord

__all__ = [
    "device_key",
    "do_mark_notice_read",
    "do_note_lockout",
    "leave_notice_txn",
    "note_login_device_txn",
]

_VERSIONS = re.compile(r"[0-9]+")
NEW_DEVICE = "new_device_login"
ACCOUNT_LOCKED = "account_locked"


async def leave_notice_txn(
    ctx: Context, txn: Txn, user_id: int, kind: str, details: dict[str, Any]
) -> None:
    """Leave a security notice for a user (shown in-app; unread until they mark it)."""
    await notice_store.insert_notice_txn(
        txn.conn,
        NoticeRecord(
            id=ctx.ids.next_id(),
            user_id=user_id,
            kind=kind,
            details=details,
            created_at=txn.now,
            read_at=None,
        ),
    )


def device_key(ctx: Context, user_id: int, user_agent: str, ip: str) -> bytes:
    family = _VERSIONS.sub("", user_agent.lower())[:256]
    return ctx.secrets.mac(f"{family}\x00{ip}".encode(), purpose=f"device:{user_id}".encode())


async def note_login_device_txn(
    ctx: Context, txn: Txn, user: UserRecord, *, ip: str, user_agent: str
) -> bool:
    """Remember the device of a login; on a device never seen for this user (and not
    the account's very first login) leave a notice. True when a notice was left."""
    first_login = await notice_store.count_devices(txn.conn, user.id) == 0
    new = await notice_store.remember_device_txn(
        txn.conn, user.id, device_key(ctx, user.id, user_agent, ip), txn.now
    )
    if not new or first_login:
        return False
    await leave_notice_txn(
        ctx, txn, user.id, NEW_DEVICE, {"ip": ip[:64], "user_agent": user_agent[:256]}
    )
    await audit(
        ctx,
        txn,
        "auth.new_device",
        acting_user=None,
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    if user.email is not None:
        email = user.email

        async def tell() -> None:
            ctx.background.spawn(
                _mail_new_device(ctx, email, user.username, ip=ip, user_agent=user_agent),
                name="new_device_notice",
            )

        txn.after_commit(tell)
    return True


async def _mail_new_device(
    ctx: Context, to: str, username: str, *, ip: str, user_agent: str
) -> None:
    with contextlib.suppress(MailError):
        await ctx.mailer.send(
            to,
            "New sign-in to your Redoubt account",
            f'The account "{username}" was just signed in to from a device and address '
            f"it hadn't used before:\n\n  address: {ip[:64]}\n  browser: {user_agent[:256]}\n\n"
            "If this was you, there's nothing to do. If not, change your password and "
            "sign out the other sessions under Settings, then tell your administrator.\n",
        )


async def do_mark_notice_read(ctx: Context, *, acting_user: Requester, notice_id: int) -> None:
    """Raises: NotFound: not one of the caller's notices."""
    async with ctx.db.transaction("mark_notice_read") as txn:
        if not await notice_store.mark_notice_read_txn(
            txn.conn, acting_user.id, notice_id, txn.now
        ):
            raise NotFound


async def do_note_lockout(ctx: Context, *, username: str, ip: str, seconds: float) -> None:
    """Too many failed logins for ``username``: audit it, and tell the account's owner
    (in the app, and by mail when the account has an address). Called once per lock:
    further attempts are refused before they could count."""
    minutes = max(1, math.ceil(seconds / 60))
    async with ctx.db.transaction("note_lockout") as txn:
        user = await user_store.get_user_by_username(txn.conn, username.lower())
        await audit(
            ctx,
            txn,
            "auth.lockout",
            acting_user=None,
            target_type="user",
            target_id=user.id if user else None,
            ip=ip,
            details={"minutes": minutes},
        )
        if user is None:
            return
        await leave_notice_txn(
            ctx, txn, user.id, ACCOUNT_LOCKED, {"ip": ip[:64], "minutes": minutes}
        )
        if user.email is not None:
            email, name = user.email, user.username

            async def tell() -> None:
                ctx.background.spawn(
                    _mail_lockout(ctx, email, name, ip=ip, minutes=minutes), name="lockout_notice"
                )

            txn.after_commit(tell)


async def _mail_lockout(ctx: Context, to: str, username: str, *, ip: str, minutes: int) -> None:
    with contextlib.suppress(MailError):
        await ctx.mailer.send(
            to,
            "Too many failed sign-ins to your Redoubt account",
            f'Sign-ins to the account "{username}" are paused for about {minutes} minutes '
            f"after too many wrong passwords or codes, the last from {ip[:64]}.\n\n"
            "If this wasn't you, someone may be guessing your password: choose a long, "
            "unique one and turn on two-factor authentication under Settings.\n",
        )
