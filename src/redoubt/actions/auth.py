"""Login and logout: session tokens are random, shown once, stored hashed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from typing_extensions import override

from redoubt.actions._common import audit, end_sessions_txn, payload
from redoubt.actions.notices import note_login_device_txn
from redoubt.actions.two_factor import (
    CHALLENGE_ATTEMPTS,
    SecondFactor,
    issue_challenge_txn,
    user_has_active_totp_txn,
    verify_second_factor_txn,
)
from redoubt.core.errors import NotFound, ServiceUnavailable, Unauthorized
from redoubt.core.settings import session_limits
from redoubt.core.tokens import generate_token, hash_token, is_well_formed
from redoubt.domain.enums import UserRole
from redoubt.domain.events import EventType
from redoubt.queries.auth import SESSION_TOKEN_KIND
from redoubt.queries.context import Context, Requester
from redoubt.queries.server_settings import required_2fa_roles
from redoubt.queries.two_factor import CHALLENGE_TOKEN_KIND
from redoubt.storage import two_factor as tf_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.ldap import LdapDirectory, LdapUnavailable
from redoubt.storage.records import SessionRecord, UserRecord

__all__ = [
    "LoginChallenge",
    "LoginResult",
    "do_end_sessions",
    "do_finish_login",
    "do_login",
    "do_logout",
    "do_touch_session",
]

_TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    user: UserRecord
    session: SessionRecord

    @override
    def __repr__(self) -> str:
        return f"LoginResult(user={self.user!r}, session_id={self.session.id})"


@dataclass(frozen=True, slots=True)
class LoginChallenge:
    """The password was right and the account has a second factor: no session yet,
    only a challenge for :func:`do_finish_login`."""

    challenge: str
    user: UserRecord

    @override
    def __repr__(self) -> str:
        return f"LoginChallenge(user={self.user!r})"


async def do_login(
    ctx: Context, *, username: str, password: str, ip: str, user_agent: str
) -> LoginResult | LoginChallenge:
    """The one authentication pipeline: check the credentials and open a new session.

    An account with an active second factor gets a :class:`LoginChallenge` instead of a
    session (:func:`do_finish_login` takes it from there). An account whose role
    requires a second factor it hasn't set up gets an enrol-only session.

    With LDAP on, the directory checks every account but the named local ones (and
    provisions the local account on first login); otherwise the local Argon2id hash
    does. Unknown user, wrong password and deactivated account fail identically (a
    dummy hash is verified when there is no local user).

    Raises:
        Unauthorized: the credentials don't open a session.
        ServiceUnavailable: the directory can't be asked (never a reason to fall back
            to a local password).
    """
    name = username.lower()
    if ctx.ldap is not None and name not in ctx.settings.ldap_local_usernames:
        user = await _directory_login(ctx, ctx.ldap, username, password, ip)
        expected_hash = user.password_hash
    else:
        user, expected_hash = await _local_login(ctx, name, password, ip)
    new_hash = None
    if expected_hash and ctx.passwords.needs_rehash(expected_hash):
        # Hashed before the transaction: on SQLite a write transaction holds the one
        # writer lock, and a hash takes a sizeable fraction of a second.
        new_hash = await ctx.passwords.hash(password)
    async with ctx.db.transaction("login") as txn:
        # The password was checked outside this transaction (hashing is slow); if it
        # changed (or the account was deactivated) meanwhile, that check is void.
        current = await user_store.get_user_by_id(txn.conn, user.id)
        if current is None or not current.is_active or current.password_hash != expected_hash:
            raise Unauthorized("Invalid username or password.")
        if new_hash is not None:
            await user_store.update_user_txn(txn.conn, user.id, password_hash=new_hash)
        if await user_has_active_totp_txn(txn, user.id):
            challenge = await issue_challenge_txn(ctx, txn, current, ip=ip, user_agent=user_agent)
            outcome: LoginResult | LoginChallenge = LoginChallenge(challenge, current)
        else:
            outcome = await _open_session_txn(
                ctx,
                txn,
                current,
                ip=ip,
                user_agent=user_agent,
                # Checked on the role loaded in this transaction (an LDAP login may just
                # have changed it) against the policy as of this transaction (an admin
                # may have just changed that).
                enrol_only=current.role in await required_2fa_roles(txn.conn, ctx.settings),
            )
    return outcome


async def _open_session_txn(
    ctx: Context,
    txn: Txn,
    user: UserRecord,
    *,
    ip: str,
    user_agent: str,
    enrol_only: bool = False,
    second_factor: str | None = None,
) -> LoginResult:
    """A new session for ``user``: the last step of every login, in its transaction."""
    lifetime_hours, _idle = session_limits(ctx.settings, user.role.value)
    token = generate_token(SESSION_TOKEN_KIND)
    session = SessionRecord(
        id=ctx.ids.next_id(),
        user_id=user.id,
        created_at=txn.now,
        last_seen_at=txn.now,
        expires_at=txn.now + dt.timedelta(hours=lifetime_hours),
        user_agent=user_agent[:256],
        ip=ip[:64],
        enrol_only=enrol_only,
    )
    await user_store.insert_session_txn(txn.conn, session, hash_token(token))
    await note_login_device_txn(ctx, txn, user, ip=ip, user_agent=user_agent)
    details: dict[str, Any] = {"session_id": str(session.id), "source": user.auth_source}
    if enrol_only:
        details["enrol_only"] = True
    if second_factor is not None:
        details["second_factor"] = second_factor
    await audit(
        ctx,
        txn,
        "auth.login",
        acting_user=None,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details=details,
    )
    return LoginResult(token=token, user=user, session=session)


async def do_finish_login(
    ctx: Context, *, challenge: str, code: str, ip: str, user_agent: str
) -> LoginResult:
    """The second step of a login: a challenge from :func:`do_login` and a code (TOTP or
    recovery) open the session, from the address and device of this request.

    A challenge is good for :data:`CHALLENGE_LIFETIME` and :data:`CHALLENGE_ATTEMPTS`
    codes, once. Every failure (unknown, expired, used up, wrong code, deactivated
    account) is the same ``401``; wrong codes are counted in the same transaction that
    finds them wrong, and audited.

    Raises:
        Unauthorized: no session (for any of the reasons above).
    """
    if not is_well_formed(challenge, CHALLENGE_TOKEN_KIND):
        raise Unauthorized(_SECOND_STEP_FAILED)
    result: LoginResult | None = None
    async with ctx.db.transaction("login_2fa") as txn:
        found = await tf_store.get_challenge_by_token_hash(txn.conn, hash_token(challenge))
        if found is not None:
            result = await _finish_login_txn(
                ctx, txn, found, code=code, ip=ip, user_agent=user_agent
            )
    if result is None:
        raise Unauthorized(_SECOND_STEP_FAILED)
    return result


_SECOND_STEP_FAILED = "Invalid code, or the sign-in expired."


async def _finish_login_txn(
    ctx: Context,
    txn: Txn,
    challenge: tf_store.ChallengeRecord,
    *,
    code: str,
    ip: str,
    user_agent: str,
) -> LoginResult | None:
    """The session, or None after recording the failure (this transaction commits
    either way, so the attempt counts)."""
    # Claiming counts the attempt. On PostgreSQL its row lock also makes a second
    # request with the same challenge wait for this one, then find it gone or counted.
    attempts = await tf_store.claim_challenge_txn(
        txn.conn, challenge.id, max_attempts=CHALLENGE_ATTEMPTS, now=txn.now
    )
    user = await user_store.get_user_by_id(txn.conn, challenge.user_id)
    method: SecondFactor | None = None
    if attempts is None:
        reason = "expired_or_used_up"
    elif user is None or not user.is_active:
        reason = "account_inactive"
    else:
        method = await verify_second_factor_txn(ctx, txn, user.id, code)
        reason = "wrong_code"
    if user is None or method is None:
        if attempts is None or reason == "account_inactive" or attempts >= CHALLENGE_ATTEMPTS:
            await tf_store.delete_challenge_txn(txn.conn, challenge.id)
        await audit(
            ctx,
            txn,
            "auth.2fa_failed",
            acting_user=None,
            target_type="user",
            target_id=challenge.user_id,
            ip=ip,
            details={"step": "login", "reason": reason, "challenge_id": str(challenge.id)},
        )
        return None
    await tf_store.delete_challenge_txn(txn.conn, challenge.id)
    if method == "recovery_code":
        await audit(
            ctx,
            txn,
            "2fa.recovery_code_used",
            acting_user=None,
            target_type="user",
            target_id=user.id,
            ip=ip,
        )
    return await _open_session_txn(
        ctx, txn, user, ip=ip, user_agent=user_agent, second_factor=method
    )


async def _login_failed(ctx: Context, user: UserRecord | None, ip: str) -> Unauthorized:
    """Audit a failed login; the error to raise (the same for every cause)."""
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
    return Unauthorized("Invalid username or password.")


async def _local_login(
    ctx: Context, name: str, password: str, ip: str
) -> tuple[UserRecord, str | None]:
    """The local account and the hash its password was verified against.

    Logins of one account can race: another one may rehash the same password between
    our check and our transaction. So when the stored hash changed, the password is
    checked once more against the new one (a password change makes that fail).
    """
    async with ctx.db.read("login_lookup") as conn:
        user = await user_store.get_user_by_username(conn, name)
    for _attempt in range(2):
        checked = user.password_hash if user else None
        ok = await ctx.passwords.verify(checked, password)
        if user is None or not ok or not user.is_active or user.auth_source != "local":
            raise await _login_failed(ctx, user, ip)
        async with ctx.db.read("login_recheck") as conn:
            latest = await user_store.get_user_by_id(conn, user.id)
        if latest is not None and latest.password_hash == checked:
            return user, checked
        user = latest
    raise await _login_failed(ctx, user, ip)


async def _directory_login(
    ctx: Context, ldap: LdapDirectory, username: str, password: str, ip: str
) -> UserRecord:
    """Ask the directory, then find or create the linked local account (no password
    is stored: ``password_hash`` stays NULL) and bring its name and role up to date."""
    try:
        identity = await ldap.authenticate(username, password)
    except LdapUnavailable:
        raise ServiceUnavailable from None
    if identity is None:
        # Same answer (and audit entry) as a wrong local password.
        async with ctx.db.read("login_lookup") as conn:
            known = await user_store.get_user_by_username(conn, username.lower())
        raise await _login_failed(ctx, known, ip)
    async with ctx.db.transaction("ldap_provision") as txn:
        user = await user_store.get_user_by_external_id(txn.conn, identity.external_id)
        if user is None:
            clash = await user_store.get_user_by_username(txn.conn, identity.username)
            if clash is not None:
                # Never merge a directory identity into an account it didn't create:
                # that would hand a local (maybe admin) account to whoever the
                # directory calls by that name.
                await audit(
                    ctx,
                    txn,
                    "auth.ldap_username_taken",
                    acting_user=None,
                    target_type="user",
                    target_id=clash.id,
                    ip=ip,
                )
                user = None
            else:
                user = UserRecord(
                    id=ctx.ids.next_id(),
                    username=identity.username,
                    display_name=(identity.display_name or identity.username)[:128],
                    role=identity.role,
                    password_hash=None,
                    is_active=True,
                    created_at=txn.now,
                    auth_source="ldap",
                    external_id=identity.external_id,
                )
                await user_store.insert_user_txn(txn.conn, user)
                await audit(
                    ctx,
                    txn,
                    "user.create",
                    acting_user=None,
                    target_type="user",
                    target_id=user.id,
                    ip=ip,
                    details={"source": "ldap", "role": identity.role.value},
                )
        elif user.role is not identity.role and user.role is not UserRole.BOT:
            # The directory's groups decide the role; a changed role is a privilege
            # change, so the account's other sessions end (as for an admin's change).
            await user_store.update_user_txn(txn.conn, user.id, role=identity.role)
            await end_sessions_txn(txn, user.id, reason="role_changed")
            await audit(
                ctx,
                txn,
                "user.set_role",
                acting_user=None,
                target_type="user",
                target_id=user.id,
                ip=ip,
                details={"from": user.role.value, "to": identity.role.value, "source": "ldap"},
            )
            user = dataclasses.replace(user, role=identity.role)
    if user is None:
        raise await _login_failed(ctx, None, ip)
    return user


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


async def do_end_sessions(
    ctx: Context,
    *,
    acting_user: Requester,
    user_id: int,
    session_ids: Sequence[int] | None = None,
    keep_current: bool = False,
) -> int:
    """End sessions of ``user_id``: the listed ones, or all of them (but the caller's own
    when ``keep_current``). Their WebSocket streams close at once. Users end their own;
    admins anyone's. Returns how many ended.

    Raises:
        NotFound: someone else's sessions, for a non-admin; or a listed session that
            isn't this user's (no telling whether it exists).
    """
    by_admin = user_id != acting_user.id
    if by_admin and acting_user.user.role is not UserRole.ADMIN:
        raise NotFound
    async with ctx.db.transaction("end_sessions") as txn:
        live = {s.id for s in await user_store.list_user_sessions(txn.conn, user_id)}
        if session_ids is not None:
            if not set(session_ids) <= live:
                raise NotFound
            doomed = set(session_ids)
        else:
            doomed = set(live)
        if keep_current and acting_user.session_id is not None:
            doomed.discard(acting_user.session_id)
        ended = await end_sessions_txn(txn, user_id, reason="revoked", only=doomed)
        await audit(
            ctx,
            txn,
            "auth.sessions_revoked",
            acting_user=acting_user,
            target_type="user",
            target_id=user_id,
            details={
                "count": len(ended),
                "session_ids": [str(i) for i in ended],
                "by_admin": by_admin,
            },
        )
    return len(ended)
