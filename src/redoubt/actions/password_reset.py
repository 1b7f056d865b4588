"""Password reset by email (T13): single-use, short-lived, stored hashed, bound to the
user and to their current password.

Asking for a reset never says whether the account exists: the endpoint answers at once
and the whole of :func:`do_request_password_reset` runs in the background, so the
answer and its timing are the same for an unknown name, an account without an email
address, a directory (LDAP) account, a throttled one, and a real one.

The link carries the token in its fragment (``/reset#token=…``): browsers don't send
fragments to servers or put them in ``Referer``, so the token never lands in an access
log, a proxy's log or a third-party request. Only its SHA-256 is stored.

A token works when it is well formed, known, unspent, unexpired, its account still
active and local, and the account's password hash still the one it was issued against
(any password change since voids it). Every failure is the same answer. Spending it is
one conditional UPDATE, so two racing confirmations can't both win; a successful reset
ends every session of the account and closes its event streams.
"""

from __future__ import annotations

import datetime as dt

from redoubt.actions._common import audit, end_sessions_txn
from redoubt.core.errors import BadRequest
from redoubt.core.logging import get_logger
from redoubt.core.mailer import MailError
from redoubt.core.passwords import check_password_policy
from redoubt.core.tokens import generate_token, hash_token, is_well_formed
from redoubt.domain.emails import normalise_email
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context
from redoubt.storage import password_resets as reset_store
from redoubt.storage import users as user_store
from redoubt.storage.password_resets import PasswordResetRecord, password_fingerprint
from redoubt.storage.records import UserRecord

__all__ = [
    "INVALID_RESET_LINK",
    "MAX_RESETS_PER_WINDOW",
    "RESET_TOKEN_KIND",
    "RESET_WINDOW",
    "do_confirm_password_reset",
    "do_request_password_reset",
    "issue_password_reset",
    "reset_link",
]

log = get_logger(__name__)

# A token kind, not a secret.
RESET_TOKEN_KIND = "rst"  # noqa: S105  # nosec B105
INVALID_RESET_LINK = "This reset link is invalid or has expired."
MAX_RESETS_PER_WINDOW = 3
"""Mails one account gets per :data:`RESET_WINDOW`, however many addresses ask: enough
for a lost mail or two, too few to flood someone's inbox through us."""
RESET_WINDOW = dt.timedelta(hours=1)


def _can_reset(user: UserRecord | None) -> bool:
    """Accounts whose password we keep and that have somewhere to send the link.

    Directory accounts are out (their password lives in the directory, which has its
    own reset), and so are bots (no password to reset) and deactivated accounts.
    """
    return (
        user is not None
        and user.is_active
        and user.auth_source == "local"
        and user.role is not UserRole.BOT
        and user.email is not None
    )


def reset_link(ctx: Context, token: str) -> str:
    """The link a mail carries: the token in the fragment, never in path or query."""
    base = (ctx.settings.public_url or "").rstrip("/")
    return f"{base}/reset#token={token}"


async def _find_account(ctx: Context, username_or_email: str) -> UserRecord | None:
    identifier = username_or_email.strip()
    async with ctx.db.read("password_reset_lookup") as conn:
        if "@" in identifier:
            email = normalise_email(identifier)
            return await user_store.get_user_by_email(conn, email) if email else None
        return await user_store.get_user_by_username(conn, identifier)


async def issue_password_reset(ctx: Context, user_id: int, *, ip: str) -> str | None:
    """Issue a token for the account (voiding its earlier ones); None when the account
    can't be reset or has had its share of mails this hour.

    Separate from sending so the action can be tested and scripted without a relay;
    the caller must deliver the token only to the account's stored address.
    """
    token = generate_token(RESET_TOKEN_KIND)
    async with ctx.db.transaction("password_reset_request") as txn:
        # Re-read inside the transaction: the account may have changed since the lookup.
        user = await user_store.get_user_by_id(txn.conn, user_id)
        if user is None or not _can_reset(user):
            return None
        recent = await reset_store.count_resets_since(txn.conn, user.id, txn.now - RESET_WINDOW)
        if recent >= MAX_RESETS_PER_WINDOW:
            log.info("password_reset.throttled", user_id=user.id)
            return None
        voided = await reset_store.void_user_resets_txn(txn.conn, user.id, txn.now)
        await reset_store.insert_reset_txn(
            txn.conn,
            PasswordResetRecord(
                id=ctx.ids.next_id(),
                user_id=user.id,
                password_fingerprint=password_fingerprint(user.password_hash),
                created_at=txn.now,
                expires_at=txn.now + dt.timedelta(minutes=ctx.settings.password_reset_minutes),
                used_at=None,
            ),
            hash_token(token),
        )
        await audit(
            ctx,
            txn,
            "user.password_reset_requested",
            acting_user=None,
            target_type="user",
            target_id=user.id,
            details={"earlier_links_voided": voided},
            ip=ip,
        )
    return token


def _mail_text(ctx: Context, user: UserRecord, link: str) -> str:
    minutes = ctx.settings.password_reset_minutes
    return (
        f"Hello {user.display_name},\n\n"
        f'someone, hopefully you, asked to reset the password of the account "{user.username}"'
        f" on {ctx.settings.public_url}.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n"
        f"{link}\n\n"
        "The link works once, and stops working if your password changes meanwhile. "
        "Resetting the password signs you out everywhere.\n\n"
        "If you didn't ask for this, ignore this mail: your password stays as it is.\n"
    )


async def do_request_password_reset(ctx: Context, *, username_or_email: str, ip: str) -> None:
    """Mail a reset link to the account named by username or email address, if there is
    one that can be reset; otherwise do nothing. Meant to run in the background: it
    tells its caller nothing either way.

    The mail goes to the address stored for the account, never to the one the request
    typed (which only has to match it after normalisation).
    """
    if not ctx.mailer.enabled:
        log.info("password_reset.mail_disabled")
        return
    user = await _find_account(ctx, username_or_email)
    if user is None or not _can_reset(user):
        return
    token = await issue_password_reset(ctx, user.id, ip=ip)
    if token is None or user.email is None:
        return
    try:
        await ctx.mailer.send(
            user.email, "Reset your Redoubt password", _mail_text(ctx, user, reset_link(ctx, token))
        )
    except MailError:
        log.warning("password_reset.mail_failed", user_id=user.id)


def _usable(reset: PasswordResetRecord | None, user: UserRecord | None, now: dt.datetime) -> bool:
    return (
        reset is not None
        and user is not None
        and reset.user_id == user.id
        and reset.used_at is None
        and reset.expires_at > now
        and user.is_active
        and user.auth_source == "local"
        and user.role is not UserRole.BOT
        and reset.password_fingerprint == password_fingerprint(user.password_hash)
    )


async def do_confirm_password_reset(ctx: Context, *, token: str, new_password: str, ip: str) -> int:
    """Set a new password with a reset token; every session of the account ends.
    Returns how many sessions ended.

    The token is checked before the new password, and a refused password spends
    nothing, so the user can try another one with the same link.

    Raises:
        BadRequest: the token is not usable (always :data:`INVALID_RESET_LINK`), or the
            new password breaks the policy (the rule's message).
    """
    if not is_well_formed(token, RESET_TOKEN_KIND):
        raise BadRequest(INVALID_RESET_LINK)
    token_hash = hash_token(token)
    async with ctx.db.read("password_reset_check") as conn:
        reset = await reset_store.get_reset_by_token_hash(conn, token_hash)
        user = await user_store.get_user_by_id(conn, reset.user_id) if reset else None
    if reset is None or user is None or not _usable(reset, user, ctx.clock.now()):
        raise BadRequest(INVALID_RESET_LINK)
    check_password_policy(new_password, username=user.username, display_name=user.display_name)
    # Hash outside the transaction: on SQLite a transaction holds the write lock, and
    # Argon2 is deliberately slow.
    new_hash = await ctx.passwords.hash(new_password)
    async with ctx.db.transaction("password_reset") as txn:
        current = await user_store.get_user_by_id(txn.conn, user.id)
        # Everything again on what this transaction sees (the password may have changed
        # while we hashed), then the conditional spend that only one request can win.
        if not _usable(reset, current, txn.now) or not await reset_store.spend_reset_txn(
            txn.conn, reset.id, txn.now
        ):
            raise BadRequest(INVALID_RESET_LINK)
        await user_store.update_user_txn(txn.conn, user.id, password_hash=new_hash)
        await reset_store.void_user_resets_txn(txn.conn, user.id, txn.now)
        # Whoever knew the old password (or held a session) is out, event streams too.
        ended = await end_sessions_txn(txn, user.id, reason="password_reset")
        await audit(
            ctx,
            txn,
            "user.password_reset",
            acting_user=None,
            target_type="user",
            target_id=user.id,
            details={"sessions_ended": len(ended)},
            ip=ip,
        )
    return len(ended)
