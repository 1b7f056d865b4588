"""Incoming webhooks: admins create, change, rotate and delete them; a hook posts.

Each hook gets its own account (role ``bot``, no password: it can't log in, so it has
no session and no token) whose display name is the hook's name, made a member of the
hook's one room. A request the hook accepts posts as that account into that room,
through the ordinary post pipeline, and nothing else: the account can't be told to
act anywhere else.

The signing secret is sealed with the server key (the receiver needs it in the clear
for the HMAC); the legacy URL token is stored only as its hash. Both are shown once, in
the answer that creates or rotates them. Every change is audited, and so is every
refused request (rate-limited by the caller, so a flood can't flood the audit log).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import override

from redoubt.actions._common import audit
from redoubt.actions.messages import post_message_txn
from redoubt.actions.rooms import add_member_txn, remove_member_txn
from redoubt.core.errors import BadRequest, Forbidden, NotFound
from redoubt.core.ids import format_id
from redoubt.core.tokens import generate_token, hash_token
from redoubt.domain.enums import MemberRole, UserRole
from redoubt.domain.events import EventType
from redoubt.domain.incoming_hooks import (
    HookPayload,
    HookRefused,
    IncomingHookView,
    Refusal,
    attachment_views,
    channel_names_room,
    clean_hook_name,
    is_http_url,
    legacy_path,
)
from redoubt.domain.permissions import RoomAction
from redoubt.domain.views import MessageView
from redoubt.queries.context import Context, Requester
from redoubt.queries.incoming_hooks import (
    hook_secret_context,
    incoming_hook_view,
    usable_hook_conn,
)
from redoubt.queries.rooms import access_room_conn
from redoubt.queries.users import user_view
from redoubt.storage import incoming_hooks as hook_store
from redoubt.storage import rooms as room_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.incoming_hooks import IncomingHookRecord
from redoubt.storage.records import UserRecord

__all__ = [
    "CreatedHook",
    "RotatedHookSecret",
    "do_audit_hook_refusal",
    "do_create_incoming_hook",
    "do_delete_incoming_hook",
    "do_post_incoming_hook_message",
    "do_rotate_incoming_hook_secret",
    "do_update_incoming_hook",
]


# Token prefixes, not secrets.
SECRET_KIND = "whs"  # noqa: S105  # nosec B105
URL_TOKEN_KIND = "whu"  # noqa: S105  # nosec B105
_TARGET = "incoming_hook"


@dataclass(frozen=True, slots=True)
class CreatedHook:
    hook: IncomingHookView
    secret: str
    legacy_url: str | None
    """``/api/v1/hooks/<id>/<token>`` in legacy mode (the token is in it)."""

    @override
    def __repr__(self) -> str:
        return f"CreatedHook(hook={self.hook.id}, <secrets hidden>)"


@dataclass(frozen=True, slots=True)
class RotatedHookSecret:
    secret: str
    legacy_url: str | None

    @override
    def __repr__(self) -> str:
        return "RotatedHookSecret(<secrets hidden>)"


def _require_admin(acting_user: Requester) -> None:
    if acting_user.user.role is not UserRole.ADMIN:
        raise Forbidden


def _valid_name(name: str) -> str:
    clean = clean_hook_name(name)
    if clean is None:
        raise BadRequest("Hook names are 1-64 characters without control characters.")
    return clean


def _valid_avatar(url: str) -> str:
    if url and not is_http_url(url, https_only=True):
        raise BadRequest("The avatar must be an https URL (or empty).")
    return url


async def _load(conn: AsyncConnection, hook_id: int) -> IncomingHookRecord:
    hook = await hook_store.get_hook_by_id(conn, hook_id)
    if hook is None:
        raise NotFound
    return hook


def _legacy_url(hook_id: int, url_token: str | None) -> str | None:
    return legacy_path(format_id(hook_id), url_token) if url_token else None


async def do_create_incoming_hook(
    ctx: Context,
    *,
    name: str,
    room_id: int,
    avatar_url: str,
    legacy_url_token: bool,
    acting_user: Requester,
) -> CreatedHook:
    """Create a hook, its bot account (a member of the room) and its secret.

    Args:
        room_id: A room the admin may invite into (a channel, or a private group they
            moderate); the hook can post there and nowhere else.
        legacy_url_token: Also accept unsigned requests whose URL holds a token
            (Slack-style senders). Flagged in the admin view and by ``redoubt doctor``.

    Raises:
        Forbidden: not an admin; may not invite into the room; the room is archived.
        NotFound: the room is not visible to the admin.
        BadRequest: invalid name or avatar URL.
    """
    _require_admin(acting_user)
    clean_name = _valid_name(name)
    avatar_url = _valid_avatar(avatar_url)
    secret = generate_token(SECRET_KIND)
    url_token = generate_token(URL_TOKEN_KIND) if legacy_url_token else None
    async with ctx.db.transaction("create_incoming_hook") as txn:
        conn = txn.conn
        access = await access_room_conn(conn, acting_user, room_id, RoomAction.INVITE)
        hook_id = ctx.ids.next_id()
        user = UserRecord(
            id=ctx.ids.next_id(),
            # Not a name people choose (ids are unique; the users table enforces it).
            username=f"hook-{hook_id}",
            display_name=clean_name,
            role=UserRole.BOT,
            password_hash=None,
            is_active=True,
            created_at=txn.now,
        )
        await user_store.insert_user_txn(conn, user)
        hook = IncomingHookRecord(
            id=hook_id,
            room_id=room_id,
            user_id=user.id,
            name=clean_name,
            avatar_url=avatar_url,
            secret_enc=ctx.secrets.encrypt(secret.encode(), context=hook_secret_context(hook_id)),
            legacy_token_hash=hash_token(url_token) if url_token else None,
            enabled=True,
            created_by=acting_user.id,
            created_at=txn.now,
            last_used_at=None,
        )
        await hook_store.insert_hook_txn(conn, hook)
        await add_member_txn(ctx, txn, access.room, user.id, MemberRole.MEMBER)
        await audit(
            ctx,
            txn,
            "hook.incoming.created",
            acting_user=acting_user,
            target_type=_TARGET,
            target_id=hook_id,
            details={
                "name": clean_name,
                "room_id": format_id(room_id),
                "user_id": format_id(user.id),
                "legacy_url_token": url_token is not None,
            },
        )
        view = incoming_hook_view(hook, access.room)
    return CreatedHook(view, secret, _legacy_url(hook_id, url_token))


async def _announce_user_txn(txn: Txn, user_id: int) -> None:
    user = await user_store.get_user_by_id(txn.conn, user_id)
    if user is not None:
        await txn.append_event(
            EventType.USER_UPDATED, user_view(user).model_dump_json(), broadcast=True
        )


async def do_update_incoming_hook(
    ctx: Context,
    hook_id: int,
    *,
    name: str | None,
    avatar_url: str | None,
    enabled: bool | None,
    legacy_url_token: bool | None,
    acting_user: Requester,
) -> IncomingHookView:
    """Rename, change the avatar, enable or disable a hook, or end its legacy mode.

    A new name is the bot account's display name too (clients hear ``user.updated``).
    Legacy mode can be turned off here, not on: a new URL token is shown only when a
    hook is created or its secret rotated.

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook.
        BadRequest: invalid name or avatar URL; ``legacy_url_token: true`` on a hook
            that doesn't have it.
    """
    _require_admin(acting_user)
    clean_name = _valid_name(name) if name is not None else None
    avatar_url = _valid_avatar(avatar_url) if avatar_url is not None else None
    async with ctx.db.transaction("update_incoming_hook") as txn:
        conn = txn.conn
        hook = await _load(conn, hook_id)
        if legacy_url_token and hook.legacy_token_hash is None:
            raise BadRequest("Legacy URL mode can only be chosen when a hook is created.")
        changes: dict[str, object] = {}
        if clean_name is not None and clean_name != hook.name:
            changes["name"] = clean_name
        if avatar_url is not None and avatar_url != hook.avatar_url:
            changes["avatar_url"] = avatar_url
        if enabled is not None and enabled != hook.enabled:
            changes["enabled"] = enabled
        if legacy_url_token is False and hook.legacy_token_hash is not None:
            changes["legacy_token_hash"] = None
        room = await room_store.get_room_by_id(conn, hook.room_id)
        if not changes:
            return incoming_hook_view(hook, room)
        await hook_store.update_hook_txn(conn, hook.id, **changes)
        if "name" in changes:
            await user_store.update_user_txn(conn, hook.user_id, display_name=clean_name)
            await _announce_user_txn(txn, hook.user_id)
        details: dict[str, object] = {"changed": sorted(changes)}
        if "enabled" in changes:
            details["enabled"] = enabled
        await audit(
            ctx,
            txn,
            "hook.incoming.updated",
            acting_user=acting_user,
            target_type=_TARGET,
            target_id=hook.id,
            details=details,
        )
        updated = await _load(conn, hook.id)
        return incoming_hook_view(updated, room)


async def do_rotate_incoming_hook_secret(
    ctx: Context, hook_id: int, *, acting_user: Requester
) -> RotatedHookSecret:
    """Replace the signing secret (and the URL token, in legacy mode); the old ones
    stop working at once.

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook.
    """
    _require_admin(acting_user)
    secret = generate_token(SECRET_KIND)
    async with ctx.db.transaction("rotate_incoming_hook_secret") as txn:
        hook = await _load(txn.conn, hook_id)
        url_token = generate_token(URL_TOKEN_KIND) if hook.legacy_token_hash else None
        await hook_store.update_hook_txn(
            txn.conn,
            hook.id,
            secret_enc=ctx.secrets.encrypt(secret.encode(), context=hook_secret_context(hook.id)),
            legacy_token_hash=hash_token(url_token) if url_token else None,
        )
        await audit(
            ctx,
            txn,
            "hook.incoming.secret_rotated",
            acting_user=acting_user,
            target_type=_TARGET,
            target_id=hook.id,
            details={"legacy_url_token": url_token is not None},
        )
    return RotatedHookSecret(secret, _legacy_url(hook.id, url_token))


async def do_delete_incoming_hook(ctx: Context, hook_id: int, *, acting_user: Requester) -> None:
    """Delete a hook. Its bot account is deactivated and leaves the room; the messages
    it posted stay, under its name.

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook.
    """
    _require_admin(acting_user)
    async with ctx.db.transaction("delete_incoming_hook") as txn:
        conn = txn.conn
        hook = await _load(conn, hook_id)
        await hook_store.delete_hook_txn(conn, hook.id)
        await user_store.update_user_txn(conn, hook.user_id, is_active=False)
        await _announce_user_txn(txn, hook.user_id)
        room = await room_store.get_room_by_id(conn, hook.room_id)
        if room is not None and await room_store.get_membership(conn, room.id, hook.user_id):
            await remove_member_txn(ctx, txn, room, hook.user_id)
        await audit(
            ctx,
            txn,
            "hook.incoming.deleted",
            acting_user=acting_user,
            target_type=_TARGET,
            target_id=hook.id,
            details={"name": hook.name, "room_id": format_id(hook.room_id)},
        )


async def do_post_incoming_hook_message(
    ctx: Context,
    hook_id: int,
    *,
    payload: HookPayload,
    nonce: bytes | None,
    ip: str,
) -> MessageView:
    """Post an authenticated request's message as the hook's account, in its room.

    One transaction: the hook is re-checked, the request's nonce spent (a second copy
    finds it and posts nothing) and the message posted, or none of it happens.

    Args:
        nonce: The digest of a signed request's signature; None in legacy mode (a URL
            token request carries nothing unique).

    Raises:
        HookRefused: ``UNKNOWN_HOOK`` / ``DISABLED`` (changed since the request was
            authenticated), ``WRONG_ROOM`` (``channel`` names another room),
            ``REPLAY``, or ``ROOM_UNAVAILABLE`` (archived, or the account was removed).
    """
    async with ctx.db.transaction("post_incoming_hook_message") as txn:
        conn = txn.conn
        hook = await usable_hook_conn(conn, hook_id)
        room = await room_store.get_room_by_id(conn, hook.room_id)
        if payload.channel is not None and not channel_names_room(
            payload.channel,
            room_id=format_id(hook.room_id),
            room_name=room.name if room else None,
        ):
            raise HookRefused(Refusal.WRONG_ROOM, hook_id=hook.id)
        if nonce is not None:
            await hook_store.purge_expired_nonces_txn(conn, hook.id, now=txn.now)
            window = dt.timedelta(seconds=2 * ctx.settings.webhook_replay_window_seconds)
            if not await hook_store.insert_nonce_txn(
                conn, hook.id, nonce, expires_at=txn.now + window
            ):
                raise HookRefused(Refusal.REPLAY, hook_id=hook.id)
        user = await user_store.get_user_by_id(conn, hook.user_id)
        if user is None:  # pragma: no cover - usable_hook_conn checked it
            raise HookRefused(Refusal.DISABLED, hook_id=hook.id)
        try:
            view = await post_message_txn(
                ctx,
                txn,
                hook.room_id,
                text=payload.text or "",
                thread_id=None,
                client_id=None,
                file_ids=(),
                attachments=attachment_views(payload),
                acting_user=Requester(user=user, session_id=None, ip=ip),
            )
        except (NotFound, Forbidden):
            raise HookRefused(Refusal.ROOM_UNAVAILABLE, hook_id=hook.id) from None
        await hook_store.update_hook_txn(conn, hook.id, last_used_at=txn.now)
    return view


async def do_audit_hook_refusal(
    ctx: Context, refusal: HookRefused, *, presented_id: int | None, ip: str
) -> None:
    """Write the audit row of a refused request (``hook.incoming.refused``).

    The caller decides how often (at most once a minute per hook and reason). The row
    names the reason, never anything secret; for an unknown hook, the id that was
    tried (if it could be one of ours).
    """
    details: dict[str, object] = {"reason": refusal.reason.value}
    if refusal.hook_id is None and presented_id is not None:
        details["presented_id"] = format_id(presented_id)
    async with ctx.db.transaction("audit_hook_refusal") as txn:
        await audit(
            ctx,
            txn,
            "hook.incoming.refused",
            acting_user=None,
            target_type=_TARGET,
            target_id=refusal.hook_id,
            details=details,
            ip=ip,
        )
