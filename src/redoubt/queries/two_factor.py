"""Reads about second factors: a user's state, and who a login challenge belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redoubt.core.tokens import hash_token, is_well_formed
from redoubt.queries.context import Context, Requester
from redoubt.queries.server_settings import required_2fa_roles
from redoubt.storage import two_factor as tf_store
from redoubt.storage import users as user_store

__all__ = [
    "CHALLENGE_TOKEN_KIND",
    "TwoFactorStatus",
    "challenge_owner",
    "two_factor_status",
]

# A token type tag (the "chl" in rdt_chl_...), not a secret.
CHALLENGE_TOKEN_KIND = "chl"  # noqa: S105  # nosec B105


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    totp: Literal["none", "pending", "active"]
    recovery_codes_left: int
    required: bool
    """The user's role requires a second factor (it can't be turned off)."""


async def two_factor_status(ctx: Context, requester: Requester) -> TwoFactorStatus:
    """The caller's own second-factor state."""
    async with ctx.db.read("two_factor_status") as conn:
        totp = await tf_store.get_totp(conn, requester.id)
        left = await tf_store.count_unused_recovery_codes(conn, requester.id)
        required = requester.user.role in await required_2fa_roles(conn, ctx.settings)
    state: Literal["none", "pending", "active"] = (
        "none" if totp is None else "active" if totp.active else "pending"
    )
    return TwoFactorStatus(
        totp=state,
        recovery_codes_left=left if state == "active" else 0,
        required=required,
    )


async def challenge_owner(ctx: Context, challenge: str) -> str | None:
    """The username a login challenge was issued to (None for anything else), so the
    second step can share the per-account login budget with the first."""
    if not is_well_formed(challenge, CHALLENGE_TOKEN_KIND):
        return None
    async with ctx.db.read("challenge_owner") as conn:
        found = await tf_store.get_challenge_by_token_hash(conn, hash_token(challenge))
        user = await user_store.get_user_by_id(conn, found.user_id) if found else None
    return user.username if user else None
