"""Incoming webhooks: the admin list, and authenticating a request to a hook.

Authentication is read-only and refuses with :class:`HookRefused`; the action that
posts re-checks the hook inside its transaction and spends the request's nonce there.
An unknown hook, a disabled one and a wrong signature all end the same way for the
caller (the API answers one generic 401), so hook ids can't be probed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from redoubt.core.errors import Forbidden
from redoubt.core.ids import format_id
from redoubt.core.secretbox import DecryptionError
from redoubt.core.signing import signature_matches, timestamp_fresh
from redoubt.core.tokens import hash_token
from redoubt.domain.enums import UserRole
from redoubt.domain.incoming_hooks import (
    HookRefused,
    IncomingHookView,
    Refusal,
    parse_timestamp,
    receive_path,
)
from redoubt.queries.context import Context, Requester
from redoubt.storage import incoming_hooks as hook_store
from redoubt.storage import rooms as room_store
from redoubt.storage.incoming_hooks import IncomingHookRecord
from redoubt.storage.records import RoomRecord

__all__ = [
    "HookRequest",
    "check_legacy_request",
    "check_signed_request",
    "hook_secret_context",
    "incoming_hook_view",
    "incoming_hook_views",
    "list_incoming_hooks",
    "nonce_digest",
    "usable_hook_conn",
]

_MAX_SIGNATURE_CHARS = 128


def hook_secret_context(hook_id: int) -> bytes:
    """The associated data sealing a hook's secret to its row."""
    return f"incoming-hook:{hook_id}".encode()


def nonce_digest(signature: str) -> bytes:
    """What the nonce cache keeps of an accepted request: the digest of its signature
    (which already covers the timestamp and the body)."""
    return hashlib.sha256(signature.encode()).digest()


def incoming_hook_view(hook: IncomingHookRecord, room: RoomRecord | None) -> IncomingHookView:
    hook_id = format_id(hook.id)
    return IncomingHookView(
        id=hook_id,
        name=hook.name,
        room_id=format_id(hook.room_id),
        room_name=room.name if room else None,
        user_id=format_id(hook.user_id),
        avatar_url=hook.avatar_url,
        enabled=hook.enabled,
        legacy_url_token=hook.legacy_token_hash is not None,
        url=receive_path(hook_id),
        created_at=hook.created_at,
        last_used_at=hook.last_used_at,
    )


async def incoming_hook_views(
    conn: AsyncConnection, hooks: list[IncomingHookRecord]
) -> list[IncomingHookView]:
    rooms = {r.id: r for r in await room_store.get_rooms_by_ids(conn, [h.room_id for h in hooks])}
    return [incoming_hook_view(h, rooms.get(h.room_id)) for h in hooks]


async def list_incoming_hooks(ctx: Context, requester: Requester) -> list[IncomingHookView]:
    """Every incoming hook, for admins.

    Raises:
        Forbidden: the requester is not an admin.
    """
    if requester.user.role is not UserRole.ADMIN:
        raise Forbidden
    async with ctx.db.read("list_incoming_hooks") as conn:
        return await incoming_hook_views(conn, await hook_store.list_hooks(conn))


async def usable_hook_conn(conn: AsyncConnection, hook_id: int | None) -> IncomingHookRecord:
    """The hook if it exists, is enabled and its account is active.

    Raises:
        HookRefused: ``UNKNOWN_HOOK`` (without a hook id: none to key an audit row
            on), or ``DISABLED``.
    """
    found = (
        await hook_store.get_hook_and_account_state(conn, hook_id) if hook_id is not None else None
    )
    if found is None:
        raise HookRefused(Refusal.UNKNOWN_HOOK)
    hook, account_active = found
    if not hook.enabled or not account_active:
        raise HookRefused(Refusal.DISABLED, hook_id=hook.id)
    return hook


async def _load_for_request(
    ctx: Context, hook_id: int | None, *, body: bytes | None
) -> tuple[IncomingHookRecord, bytes]:
    """The usable hook and the body; the size refusal comes first, whatever the hook."""
    async with ctx.db.read("load_incoming_hook") as conn:
        try:
            hook = await usable_hook_conn(conn, hook_id)
        except HookRefused as refusal:
            if body is None:
                raise HookRefused(Refusal.TOO_LARGE, hook_id=refusal.hook_id) from None
            raise
    if body is None:
        raise HookRefused(Refusal.TOO_LARGE, hook_id=hook.id)
    return hook, body


@dataclass(frozen=True, slots=True)
class HookRequest:
    """An authenticated request to a hook."""

    hook: IncomingHookRecord
    body: bytes
    nonce: bytes | None
    """The digest of its signature, spent when the message is posted (None: a legacy
    URL-token request, which carries nothing unique)."""


async def check_signed_request(
    ctx: Context,
    hook_id: int | None,
    *,
    body: bytes | None,
    timestamp: str | None,
    signature: str | None,
) -> HookRequest:
    """Authenticate a signed request to a hook, in the order the receiver checks.

    Args:
        hook_id: From the URL; None when it can't be an id of ours.
        body: The raw body, or None when it was over the size limit.
        timestamp: The ``X-Redoubt-Timestamp`` header.
        signature: The ``X-Redoubt-Signature`` header.

    Raises:
        HookRefused: ``TOO_LARGE``, ``UNKNOWN_HOOK``, ``DISABLED``, ``UNSIGNED``,
            ``STALE_TIMESTAMP`` or ``BAD_SIGNATURE``.
    """
    hook, raw = await _load_for_request(ctx, hook_id, body=body)
    ts = parse_timestamp(timestamp)
    if ts is None or not signature or len(signature) > _MAX_SIGNATURE_CHARS:
        raise HookRefused(Refusal.UNSIGNED, hook_id=hook.id)
    window = ctx.settings.webhook_replay_window_seconds
    if not timestamp_fresh(ts, ctx.clock.now().timestamp(), window):
        raise HookRefused(Refusal.STALE_TIMESTAMP, hook_id=hook.id)
    try:
        secret = ctx.secrets.decrypt(hook.secret_enc, context=hook_secret_context(hook.id))
    except DecryptionError:
        # Sealed with another server key (a restored backup): nothing can be verified.
        raise HookRefused(Refusal.BAD_SIGNATURE, hook_id=hook.id) from None
    if not signature_matches(secret.decode(), ts, raw, signature):
        raise HookRefused(Refusal.BAD_SIGNATURE, hook_id=hook.id)
    return HookRequest(hook, raw, nonce_digest(signature))


async def check_legacy_request(
    ctx: Context, hook_id: int | None, *, body: bytes | None, url_token: str
) -> HookRequest:
    """Authenticate a legacy-mode request (the secret is the token in its URL).

    Raises:
        HookRefused: ``TOO_LARGE``, ``UNKNOWN_HOOK``, ``DISABLED`` or ``BAD_URL_TOKEN``
            (also for a hook that isn't in legacy mode).
    """
    hook, raw = await _load_for_request(ctx, hook_id, body=body)
    presented = hash_token(url_token)
    expected = hook.legacy_token_hash
    # Compared in constant time even when there is nothing to compare with.
    matches = hmac.compare_digest(presented, expected or bytes(len(presented)))
    if expected is None or not matches:
        raise HookRefused(Refusal.BAD_URL_TOKEN, hook_id=hook.id)
    return HookRequest(hook, raw, None)
