"""The second factor: TOTP enrolment, recovery codes, and the checks logins rely on.

TOTP (RFC 6238): 6 digits, 30-second steps, one step either side accepted for clock
drift, and never the same step twice: ``last_counter`` only moves forward, by a
conditional UPDATE in the transaction that accepts the code, so a code seen over a
shoulder (or two racing requests carrying it) is good exactly once.

The secret is encrypted with the server key and bound to its user (a ciphertext copied
to another row doesn't decrypt); it leaves the server once, in the answer that starts
enrolment. Recovery codes are stored as keyed fingerprints and spent with a conditional
UPDATE as well.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import pyotp
from typing_extensions import override

from redoubt.actions._common import audit, end_sessions_txn
from redoubt.core.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from redoubt.core.tokens import generate_token, hash_token
from redoubt.domain.enums import UserRole
from redoubt.queries.context import Context, Requester
from redoubt.queries.server_settings import required_2fa_roles
from redoubt.queries.two_factor import CHALLENGE_TOKEN_KIND
from redoubt.storage import two_factor as tf_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.ldap import LdapUnavailable
from redoubt.storage.records import UserRecord

__all__ = [
    "CHALLENGE_ATTEMPTS",
    "CHALLENGE_LIFETIME",
    "RecoveryCodes",
    "SecondFactor",
    "TotpEnrolment",
    "do_confirm_totp",
    "do_disable_two_factor",
    "do_regenerate_recovery_codes",
    "do_reset_two_factor",
    "do_start_totp",
    "issue_challenge_txn",
    "user_has_active_totp_txn",
    "verify_second_factor_txn",
]

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
ISSUER = "Redoubt"
RECOVERY_CODE_COUNT = 10
CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
CHALLENGE_ATTEMPTS = 5
"""Wrong codes a challenge survives before it is deleted (the password step again)."""

_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_TOTP_SHAPE = re.compile(r"[0-9]{6}")
_RECOVERY_SHAPE = re.compile(r"[a-z2-7]{10}")

SecondFactor = Literal["totp", "recovery_code"]


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str

    @override
    def __repr__(self) -> str:
        return "TotpEnrolment(<secret hidden>)"


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    codes: list[str]
    """Shown once: only their fingerprints are kept."""

    @override
    def __repr__(self) -> str:
        return f"RecoveryCodes(<{len(self.codes)} hidden>)"


# --- codes -----------------------------------------------------------------------------


def _secret_context(user_id: int) -> bytes:
    return f"totp:{user_id}".encode()


def _normalise(code: str) -> str:
    """Codes are typed by hand: dashes, spaces and case don't matter."""
    return code.replace("-", "").replace(" ", "").lower()


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The time step (within one of now) whose code ``code`` is, if any.

    Every candidate is compared (in constant time), so the answer's timing doesn't
    depend on which step matched.
    """
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    current = int(now.timestamp()) // TOTP_STEP_SECONDS
    found = None
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found = step
    return found


def _recovery_fingerprint(ctx: Context, user_id: int, normalised: str) -> bytes:
    return ctx.secrets.mac(normalised.encode(), purpose=b"recovery:" + str(user_id).encode())


def _new_recovery_codes(ctx: Context, user_id: int) -> tuple[list[str], list[tuple[int, bytes]]]:
    """Ten fresh codes (50 random bits each, shown as ``xxxxx-xxxxx``) and their rows."""
    shown: list[str] = []
    rows: list[tuple[int, bytes]] = []
    while len(shown) < RECOVERY_CODE_COUNT:
        raw = "".join(secrets.choice(_BASE32) for _ in range(10))
        if f"{raw[:5]}-{raw[5:]}" in shown:
            continue
        shown.append(f"{raw[:5]}-{raw[5:]}")
        rows.append((ctx.ids.next_id(), _recovery_fingerprint(ctx, user_id, raw)))
    return shown, rows


def _decrypt_secret(ctx: Context, record: tf_store.TotpRecord) -> str:
    return ctx.secrets.decrypt(record.secret_enc, context=_secret_context(record.user_id)).decode()


async def _spend_totp_txn(ctx: Context, txn: Txn, user_id: int, code: str) -> bool:
    totp = await tf_store.get_totp(txn.conn, user_id)
    if totp is None or not totp.active or not _TOTP_SHAPE.fullmatch(code):
        return False
    step = _matching_step(_decrypt_secret(ctx, totp), code, txn.now)
    return step is not None and await tf_store.use_totp_counter_txn(txn.conn, user_id, step)


async def verify_second_factor_txn(
    ctx: Context, txn: Txn, user_id: int, code: str, *, allow_recovery: bool = True
) -> SecondFactor | None:
    """Check and spend ``code`` (a TOTP code, or a recovery code) in ``txn``.

    Spending is part of the check: the caller's transaction holds the counter or the
    code as used, so it can't be accepted again, even by a request running right now.
    """
    normalised = _normalise(code)
    if await _spend_totp_txn(ctx, txn, user_id, normalised):
        return "totp"
    if allow_recovery and _RECOVERY_SHAPE.fullmatch(normalised):
        fingerprint = _recovery_fingerprint(ctx, user_id, normalised)
        if await tf_store.use_recovery_code_txn(txn.conn, user_id, fingerprint, txn.now):
            return "recovery_code"
    return None


async def user_has_active_totp_txn(txn: Txn, user_id: int) -> bool:
    totp = await tf_store.get_totp(txn.conn, user_id)
    return totp is not None and totp.active


async def issue_challenge_txn(
    ctx: Context, txn: Txn, user: UserRecord, *, ip: str, user_agent: str
) -> str:
    """The password step passed for an account with a second factor: a challenge token
    (shown once, stored hashed) that the second step must present with a code."""
    token = generate_token(CHALLENGE_TOKEN_KIND)
    challenge = tf_store.ChallengeRecord(
        id=ctx.ids.next_id(),
        user_id=user.id,
        created_at=txn.now,
        expires_at=txn.now + CHALLENGE_LIFETIME,
        attempts=0,
        ip=ip[:64],
        user_agent=user_agent[:256],
    )
    await tf_store.insert_challenge_txn(txn.conn, challenge, hash_token(token))
    await audit(
        ctx,
        txn,
        "auth.2fa_challenged",
        acting_user=None,
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"challenge_id": str(challenge.id)},
    )
    return token


async def _second_factor_failed(
    ctx: Context, acting_user: Requester, step: str, reason: str
) -> None:
    async with ctx.db.transaction("2fa_failed") as txn:
        await audit(
            ctx,
            txn,
            "auth.2fa_failed",
            acting_user=acting_user,
            target_type="user",
            target_id=acting_user.id,
            details={"step": step, "reason": reason},
        )


# --- enrolment and management ----------------------------------------------------------


async def do_start_totp(ctx: Context, *, acting_user: Requester) -> TotpEnrolment:
    """Start (or restart) enrolment: a new secret, inactive until a code confirms it.

    Raises:
        Conflict: a credential is already active (turn it off first).
    """
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits
    blob = ctx.secrets.encrypt(secret.encode(), context=_secret_context(acting_user.id))
    async with ctx.db.transaction("2fa_enrol_start") as txn:
        if not await tf_store.put_pending_totp_txn(txn.conn, acting_user.id, blob, txn.now):
            raise Conflict("Two-factor authentication is already on.")
        await audit(
            ctx,
            txn,
            "2fa.enrol_started",
            acting_user=acting_user,
            target_type="user",
            target_id=acting_user.id,
        )
    uri = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=acting_user.user.username, issuer_name=ISSUER
    )
    return TotpEnrolment(secret=secret, otpauth_uri=uri)


async def do_confirm_totp(ctx: Context, *, acting_user: Requester, code: str) -> RecoveryCodes:
    """Activate the pending secret with a first valid code.

    Answers the recovery codes (shown this once). Every other session of the user ends
    (signed in before the account had a second factor), and the current one, if it was
    enrol-only, may now do everything its role allows.

    Raises:
        Conflict: no enrolment was started, or the credential is already active.
        BadRequest: the code doesn't match the pending secret (audited).
    """
    normalised = _normalise(code)
    shown, rows = _new_recovery_codes(ctx, acting_user.id)
    async with ctx.db.transaction("2fa_confirm") as txn:
        totp = await tf_store.get_totp(txn.conn, acting_user.id)
        if totp is None or totp.active:
            raise Conflict("There is no two-factor set-up waiting for a code.")
        step = (
            _matching_step(_decrypt_secret(ctx, totp), normalised, txn.now)
            if _TOTP_SHAPE.fullmatch(normalised)
            else None
        )
        confirmed = step is not None and await tf_store.activate_totp_txn(
            txn.conn, acting_user.id, totp.secret_enc, step, txn.now
        )
        if confirmed:
            await tf_store.replace_recovery_codes_txn(txn.conn, acting_user.id, rows, txn.now)
            if acting_user.session_id is not None:
                await user_store.clear_enrol_only_txn(txn.conn, acting_user.session_id)
            ended = await end_sessions_txn(
                txn, acting_user.id, reason="two_factor_enabled", keep=acting_user.session_id
            )
            await audit(
                ctx,
                txn,
                "2fa.enabled",
                acting_user=acting_user,
                target_type="user",
                target_id=acting_user.id,
                details={"sessions_ended": len(ended)},
            )
    if not confirmed:
        await _second_factor_failed(ctx, acting_user, "confirm", "wrong_code")
        raise BadRequest("That code doesn't match; check the authenticator's clock and retry.")
    return RecoveryCodes(shown)


async def do_regenerate_recovery_codes(
    ctx: Context, *, acting_user: Requester, code: str
) -> RecoveryCodes:
    """Ten new recovery codes for a TOTP code; the old ones are void.

    Raises:
        Conflict: two-factor authentication is off.
        Forbidden: the code is wrong or was used already (audited).
    """
    shown, rows = _new_recovery_codes(ctx, acting_user.id)
    async with ctx.db.transaction("2fa_recovery_codes") as txn:
        if not await user_has_active_totp_txn(txn, acting_user.id):
            raise Conflict("Two-factor authentication is off.")
        accepted = await verify_second_factor_txn(
            ctx, txn, acting_user.id, code, allow_recovery=False
        )
        if accepted is not None:
            await tf_store.replace_recovery_codes_txn(txn.conn, acting_user.id, rows, txn.now)
            await audit(
                ctx,
                txn,
                "2fa.recovery_codes_regenerated",
                acting_user=acting_user,
                target_type="user",
                target_id=acting_user.id,
            )
    if accepted is None:
        await _second_factor_failed(ctx, acting_user, "recovery_codes", "wrong_code")
        raise Forbidden("The code is wrong.")
    return RecoveryCodes(shown)


async def _password_matches(ctx: Context, user: UserRecord, password: str) -> bool:
    """The account's password, checked where logins check it (the local hash, or the
    directory for accounts it manages)."""
    if user.auth_source == "ldap":
        if ctx.ldap is None:
            return False
        try:
            identity = await ctx.ldap.authenticate(user.username, password)
        except LdapUnavailable:
            raise ServiceUnavailable from None
        return identity is not None and identity.external_id == user.external_id
    return await ctx.passwords.verify(user.password_hash, password)


async def do_disable_two_factor(
    ctx: Context, *, acting_user: Requester, password: str, code: str
) -> None:
    """Turn the second factor off: the password and a code (TOTP or recovery) are
    required, so neither a stolen session nor a stolen password alone can do it.

    Raises:
        Forbidden: the role requires a second factor; or the password or the code is
            wrong (audited, nothing changes).
        Conflict: it is off already.
    """
    user = acting_user.user
    password_ok = await _password_matches(ctx, user, password)
    disabled = False
    async with ctx.db.transaction("2fa_disable") as txn:
        current = await user_store.get_user_by_id(txn.conn, user.id)
        # The policy as of this transaction (an admin may change it at any time), on
        # the role as of this transaction.
        role = current.role if current is not None else user.role
        if role in await required_2fa_roles(txn.conn, ctx.settings):
            raise Forbidden("Your role requires two-factor authentication.")
        if not await user_has_active_totp_txn(txn, user.id):
            raise Conflict("Two-factor authentication is off.")
        # A password changed since the session loaded the user: the check above was
        # against the old one.
        if password_ok and current is not None and current.password_hash == user.password_hash:
            # The code is spent only with a good password: no free guesses at codes.
            method = await verify_second_factor_txn(ctx, txn, user.id, code)
            if method is not None:
                await tf_store.delete_totp_txn(txn.conn, user.id)
                await tf_store.delete_recovery_codes_txn(txn.conn, user.id)
                await tf_store.delete_user_challenges_txn(txn.conn, user.id)
                await audit(
                    ctx,
                    txn,
                    "2fa.disabled",
                    acting_user=acting_user,
                    target_type="user",
                    target_id=user.id,
                    details={"second_factor": method},
                )
                disabled = True
    if not disabled:
        await _second_factor_failed(ctx, acting_user, "disable", "wrong_password_or_code")
        raise Forbidden("The password or the code is wrong.")


async def do_reset_two_factor(ctx: Context, *, acting_user: Requester, user_id: int) -> int:
    """An admin removes a user's second factor (a lost phone): credential, recovery
    codes and pending challenges go, and so does every session of the user. Returns how
    many sessions ended.

    Raises:
        Forbidden: the caller isn't an admin.
        BadRequest: the admin's own account (that would skip the password and code).
        NotFound: no such user.
    """
    if acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden
    if user_id == acting_user.id:
        raise BadRequest("You can't reset your own second factor; turn it off instead.")
    async with ctx.db.transaction("2fa_reset") as txn:
        if await user_store.get_user_by_id(txn.conn, user_id) is None:
            raise NotFound
        had_totp = await tf_store.delete_totp_txn(txn.conn, user_id)
        await tf_store.delete_recovery_codes_txn(txn.conn, user_id)
        ended = await end_sessions_txn(txn, user_id, reason="two_factor_reset")
        await audit(
            ctx,
            txn,
            "2fa.reset_by_admin",
            acting_user=acting_user,
            target_type="user",
            target_id=user_id,
            details={"had_totp": had_totp, "sessions_ended": len(ended)},
        )
    return len(ended)
