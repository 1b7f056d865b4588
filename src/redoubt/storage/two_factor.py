"""Second factors: TOTP credentials, recovery codes and login challenges.

Every "use once" rule here is a conditional UPDATE or DELETE whose row count says
whether this caller won: two requests racing with the same code (or the same
challenge) can't both succeed, on SQLite (one writer) or PostgreSQL (the loser's
UPDATE waits for the winner's row lock, then re-checks its WHERE and matches nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import override

from redoubt.storage._rows import from_row, to_values
from redoubt.storage.schema import login_challenges, recovery_codes, totp_credentials

__all__ = [
    "ChallengeRecord",
    "TotpRecord",
    "activate_totp_txn",
    "claim_challenge_txn",
    "count_unused_recovery_codes",
    "delete_challenge_txn",
    "delete_recovery_codes_txn",
    "delete_totp_txn",
    "delete_user_challenges_txn",
    "get_challenge_by_token_hash",
    "get_totp",
    "insert_challenge_txn",
    "put_pending_totp_txn",
    "replace_recovery_codes_txn",
    "use_recovery_code_txn",
    "use_totp_counter_txn",
]


@dataclass(frozen=True, slots=True)
class TotpRecord:
    user_id: int
    secret_enc: bytes
    """AES-GCM ciphertext of the base32 secret, bound to ``totp:<user id>``."""
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    """None while enrolment waits for its first code."""
    last_counter: int
    """The highest time step accepted so far; only later ones are good."""

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None

    @override
    def __repr__(self) -> str:  # even the ciphertext stays out of logs
        return f"TotpRecord(user_id={self.user_id}, active={self.active})"


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """A login that passed the password step and waits for its second factor."""

    id: int
    user_id: int
    created_at: dt.datetime
    expires_at: dt.datetime
    attempts: int
    ip: str
    user_agent: str


def _challenge(row: Any) -> ChallengeRecord:
    return from_row(ChallengeRecord, row)


# --- TOTP ------------------------------------------------------------------------------


async def get_totp(conn: AsyncConnection, user_id: int) -> TotpRecord | None:
    row = (
        await conn.execute(select(totp_credentials).where(totp_credentials.c.user_id == user_id))
    ).first()
    return from_row(TotpRecord, row) if row else None


async def put_pending_totp_txn(
    conn: AsyncConnection, user_id: int, secret_enc: bytes, now: dt.datetime
) -> bool:
    """Store a new, unconfirmed secret (replacing an unconfirmed one). False when the
    user already has an active credential (it is left alone)."""
    replaced = await conn.execute(
        update(totp_credentials)
        .where(totp_credentials.c.user_id == user_id, totp_credentials.c.confirmed_at.is_(None))
        .values(secret_enc=secret_enc, created_at=now, last_counter=0)
    )
    if replaced.rowcount == 1:
        return True
    if await get_totp(conn, user_id) is not None:
        return False
    await conn.execute(
        insert(totp_credentials).values(
            user_id=user_id, secret_enc=secret_enc, created_at=now, last_counter=0
        )
    )
    return True


async def activate_totp_txn(
    conn: AsyncConnection, user_id: int, secret_enc: bytes, counter: int, now: dt.datetime
) -> bool:
    """Confirm the pending secret ``secret_enc`` with the code of time step ``counter``.

    False if it is no longer that secret (enrolment restarted meanwhile), is already
    active, or the step was used.
    """
    result = await conn.execute(
        update(totp_credentials)
        .where(
            totp_credentials.c.user_id == user_id,
            totp_credentials.c.confirmed_at.is_(None),
            totp_credentials.c.secret_enc == secret_enc,
            totp_credentials.c.last_counter < counter,
        )
        .values(confirmed_at=now, last_counter=counter)
    )
    return int(result.rowcount) == 1


async def use_totp_counter_txn(conn: AsyncConnection, user_id: int, counter: int) -> bool:
    """Spend time step ``counter`` of an active credential: True for the one caller
    that moved ``last_counter`` forward, False on a replay (or a lost race)."""
    result = await conn.execute(
        update(totp_credentials)
        .where(
            totp_credentials.c.user_id == user_id,
            totp_credentials.c.confirmed_at.is_not(None),
            totp_credentials.c.last_counter < counter,
        )
        .values(last_counter=counter)
    )
    return int(result.rowcount) == 1


async def delete_totp_txn(conn: AsyncConnection, user_id: int) -> bool:
    result = await conn.execute(
        delete(totp_credentials).where(totp_credentials.c.user_id == user_id)
    )
    return int(result.rowcount) > 0


# --- recovery codes --------------------------------------------------------------------


async def replace_recovery_codes_txn(
    conn: AsyncConnection,
    user_id: int,
    codes: Sequence[tuple[int, bytes]],
    now: dt.datetime,
) -> None:
    """Void every code of the user and store ``codes`` (id, keyed fingerprint)."""
    await delete_recovery_codes_txn(conn, user_id)
    if codes:
        await conn.execute(
            insert(recovery_codes),
            [
                {"id": code_id, "user_id": user_id, "code_hash": code_hash, "created_at": now}
                for code_id, code_hash in codes
            ],
        )


async def use_recovery_code_txn(
    conn: AsyncConnection, user_id: int, code_hash: bytes, now: dt.datetime
) -> bool:
    """Spend one code: True for the single caller that marked it used."""
    result = await conn.execute(
        update(recovery_codes)
        .where(
            recovery_codes.c.user_id == user_id,
            recovery_codes.c.code_hash == code_hash,
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return int(result.rowcount) == 1


async def count_unused_recovery_codes(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(
        select(func.count())
        .select_from(recovery_codes)
        .where(recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None))
    )
    return int(result.scalar_one())


async def delete_recovery_codes_txn(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))


# --- login challenges ------------------------------------------------------------------


async def insert_challenge_txn(
    conn: AsyncConnection, challenge: ChallengeRecord, token_hash: bytes
) -> None:
    # The user's expired challenges go with each new one, so abandoned logins don't pile up.
    await conn.execute(
        delete(login_challenges).where(
            login_challenges.c.user_id == challenge.user_id,
            login_challenges.c.expires_at <= challenge.created_at,
        )
    )
    await conn.execute(
        insert(login_challenges).values(**to_values(challenge), token_hash=token_hash)
    )


async def get_challenge_by_token_hash(
    conn: AsyncConnection, token_hash: bytes
) -> ChallengeRecord | None:
    row = (
        await conn.execute(
            select(login_challenges).where(login_challenges.c.token_hash == token_hash)
        )
    ).first()
    return _challenge(row) if row else None


async def claim_challenge_txn(
    conn: AsyncConnection, challenge_id: int, *, max_attempts: int, now: dt.datetime
) -> int | None:
    """Count one more attempt at a live challenge; the attempt's number, or None when
    the challenge is gone, expired or used up (``max_attempts`` already made)."""
    result = await conn.execute(
        update(login_challenges)
        .where(
            login_challenges.c.id == challenge_id,
            login_challenges.c.attempts < max_attempts,
            login_challenges.c.expires_at > now,
        )
        .values(attempts=login_challenges.c.attempts + 1)
        .returning(login_challenges.c.attempts)
    )
    attempts = result.scalar_one_or_none()
    return None if attempts is None else int(attempts)


async def delete_challenge_txn(conn: AsyncConnection, challenge_id: int) -> bool:
    """Delete one challenge; True only for the caller that deleted it (single use)."""
    result = await conn.execute(
        delete(login_challenges).where(login_challenges.c.id == challenge_id)
    )
    return int(result.rowcount) == 1


async def delete_user_challenges_txn(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(delete(login_challenges).where(login_challenges.c.user_id == user_id))
