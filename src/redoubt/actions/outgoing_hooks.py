"""Outgoing webhooks: admins manage them; events in their rooms fill the outbox.

Each hook has a signing secret (``rdt_whs_…``), sealed under the server key because
the worker needs it in the clear to sign; it is shown once, at creation and rotation.
The URL is checked against the egress policy when it is set (a clear error in the
admin form) and again by the egress guard on every request (names can change what they
resolve to). Hooks watch channels and private groups, never DMs; an admin can only
pick rooms they can see.

Deliveries are written by :func:`enqueue_deliveries_txn` in the transaction of the
event itself (the message post, the join or leave), so an event is announced if and
only if it committed; :mod:`redoubt.actions.webhook_delivery` sends them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from typing_extensions import override

from redoubt.actions._common import audit
from redoubt.core.checks import expect
from redoubt.core.egress import EgressPolicy, check_url
from redoubt.core.errors import BadRequest, NotFound
from redoubt.core.ids import format_id
from redoubt.core.tokens import generate_token
from redoubt.domain.enums import RoomKind, UserRole
from redoubt.domain.outgoing_hooks import (
    MAX_HOOK_ROOMS,
    MAX_TRIGGER_WORDS,
    DeliveryStatus,
    HookEvent,
    OutgoingHookView,
    PayloadMessage,
    PayloadRoom,
    PayloadUser,
    delivery_body,
    match_trigger,
    valid_trigger_word,
)
from redoubt.domain.permissions import RoomAction
from redoubt.queries.context import Context, Requester
from redoubt.queries.outgoing_hooks import ensure_admin, hook_view
from redoubt.queries.rooms import access_room_conn
from redoubt.storage import outgoing_hooks as hook_store
from redoubt.storage import users as user_store
from redoubt.storage.database import Txn
from redoubt.storage.outgoing_hooks import DeliveryRecord, OutgoingHookRecord
from redoubt.storage.records import MessageRecord, RoomRecord, UserRecord

__all__ = [
    "CreatedOutgoingHook",
    "do_create_outgoing_hook",
    "do_delete_outgoing_hook",
    "do_rotate_outgoing_hook_secret",
    "do_update_outgoing_hook",
    "enqueue_deliveries_txn",
    "secret_context",
]

_NAME_CHARS = 64
_DISABLED_BY_ADMIN = "Disabled by an administrator."
ENCRYPTED = "encrypted"
"""The content type of end-to-end encrypted messages: never sent to any hook."""


def secret_context(hook_id: int) -> bytes:
    """The AES-GCM associated data that binds a sealed secret to its hook."""
    return f"outgoing_hook:{hook_id}".encode()


@dataclass(frozen=True, slots=True)
class CreatedOutgoingHook:
    hook: OutgoingHookView
    secret: str
    """Shown this once."""

    @override
    def __repr__(self) -> str:
        return f"CreatedOutgoingHook(id={self.hook.id})"


def _audit_url(url: str) -> str:
    """The URL as the audit log keeps it: without credentials, query or fragment
    (receivers sometimes put their own secrets there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _NAME_CHARS or not name.isprintable():
        raise BadRequest(f"Names are 1-{_NAME_CHARS} printable characters.")
    return name


def _check_url(ctx: Context, url: str) -> str:
    url = url.strip()
    problem = check_url(url, EgressPolicy.from_settings(ctx.settings))
    if problem is not None:
        raise BadRequest(f"The URL can't be used: {problem}")
    return url


def _check_events(events: Sequence[HookEvent]) -> list[HookEvent]:
    unique = list(dict.fromkeys(events))
    if not unique:
        raise BadRequest("Choose at least one event.")
    return unique


def _check_trigger_words(words: Sequence[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for word in words:
        if not valid_trigger_word(word):
            raise BadRequest("Trigger words are single words of 1-32 characters.")
        if word.casefold() not in seen:
            seen.add(word.casefold())
            out.append(word)
    if len(out) > MAX_TRIGGER_WORDS:
        raise BadRequest(f"At most {MAX_TRIGGER_WORDS} trigger words.")
    return out


async def _check_rooms(txn: Txn, room_ids: Sequence[int], acting_user: Requester) -> list[int]:
    """The rooms, each one a channel or private group the admin can see."""
    unique = sorted(set(room_ids))
    if not unique:
        raise BadRequest("Choose at least one room.")
    if len(unique) > MAX_HOOK_ROOMS:
        raise BadRequest(f"At most {MAX_HOOK_ROOMS} rooms per hook.")
    for room_id in unique:
        access = await access_room_conn(txn.conn, acting_user, room_id, RoomAction.READ)
        if access.room.kind is RoomKind.DM:
            raise BadRequest("Outgoing webhooks can't watch direct messages.")
    return unique


async def _hook_for_admin(txn: Txn, hook_id: int, acting_user: Requester) -> OutgoingHookRecord:
    ensure_admin(acting_user)
    hook = await hook_store.get_hook(txn.conn, hook_id)
    if hook is None:
        raise NotFound
    return hook


async def do_create_outgoing_hook(
    ctx: Context,
    *,
    name: str,
    url: str,
    room_ids: Sequence[int],
    events: Sequence[HookEvent],
    trigger_words: Sequence[str],
    acting_user: Requester,
) -> CreatedOutgoingHook:
    """Create an outgoing webhook owned by the acting admin, with a new secret.

    Raises:
        Forbidden: not an admin.
        BadRequest: an invalid name, URL (egress policy), event list or trigger word;
            a DM among the rooms.
        NotFound: a room the admin can't see.
    """
    ensure_admin(acting_user)
    name = _check_name(name)
    url = _check_url(ctx, url)
    event_list = _check_events(events)
    words = _check_trigger_words(trigger_words)
    secret = generate_token("whs")
    async with ctx.db.transaction("create_outgoing_hook") as txn:
        rooms = await _check_rooms(txn, room_ids, acting_user)
        hook_id = ctx.ids.next_id()
        hook = OutgoingHookRecord(
            id=hook_id,
            owner_id=acting_user.id,
            name=name,
            url=url,
            secret_enc=ctx.secrets.encrypt(secret.encode(), context=secret_context(hook_id)),
            events=[e.value for e in event_list],
            trigger_words=words,
            enabled=True,
            disabled_reason="",
            created_at=txn.now,
            room_ids=rooms,
        )
        await hook_store.insert_hook_txn(txn.conn, hook)
        await audit(
            ctx,
            txn,
            "hook.outgoing.created",
            acting_user=acting_user,
            target_type="outgoing_hook",
            target_id=hook_id,
            details={
                "name": name,
                "url": _audit_url(url),
                "room_ids": [format_id(r) for r in rooms],
                "events": hook.events,
                "trigger_words": words,
            },
        )
    return CreatedOutgoingHook(hook=hook_view(hook), secret=secret)


async def do_update_outgoing_hook(
    ctx: Context,
    hook_id: int,
    *,
    name: str | None = None,
    url: str | None = None,
    room_ids: Sequence[int] | None = None,
    events: Sequence[HookEvent] | None = None,
    trigger_words: Sequence[str] | None = None,
    enabled: bool | None = None,
    acting_user: Requester,
) -> OutgoingHookView:
    """Change what is given (None: unchanged). Enabling a hook clears its disabled
    reason and lets its waiting deliveries go.

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook, or a room the admin can't see.
        BadRequest: as for :func:`do_create_outgoing_hook`.
    """
    ensure_admin(acting_user)
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = _check_name(name)
    if url is not None:
        values["url"] = _check_url(ctx, url)
    if events is not None:
        values["events"] = [e.value for e in _check_events(events)]
    if trigger_words is not None:
        values["trigger_words"] = _check_trigger_words(trigger_words)
    async with ctx.db.transaction("update_outgoing_hook") as txn:
        hook = await _hook_for_admin(txn, hook_id, acting_user)
        rooms = await _check_rooms(txn, room_ids, acting_user) if room_ids is not None else None
        if enabled is not None and enabled != hook.enabled:
            values["enabled"] = enabled
            values["disabled_reason"] = "" if enabled else _DISABLED_BY_ADMIN
        changed = {k: v for k, v in values.items() if getattr(hook, k) != v}
        if rooms is not None and rooms != hook.room_ids:
            await hook_store.replace_hook_rooms_txn(txn.conn, hook_id, rooms)
            changed["room_ids"] = rooms
        await hook_store.update_hook_txn(
            txn.conn, hook_id, **{k: v for k, v in changed.items() if k != "room_ids"}
        )
        if changed:
            details: dict[str, object] = {k: v for k, v in changed.items() if k != "url"}
            if "room_ids" in changed:
                details["room_ids"] = [format_id(r) for r in rooms or []]
            if "url" in changed:
                details["url"] = _audit_url(str(changed["url"]))
            await audit(
                ctx,
                txn,
                "hook.outgoing.updated",
                acting_user=acting_user,
                target_type="outgoing_hook",
                target_id=hook_id,
                details=details,
            )
        updated = expect(await hook_store.get_hook(txn.conn, hook_id), "the hook")
        if changed.get("enabled") is True:
            txn.after_commit(_waker(ctx))
    return hook_view(updated)


async def do_rotate_outgoing_hook_secret(
    ctx: Context, hook_id: int, *, acting_user: Requester
) -> str:
    """Replace a hook's signing secret; returns the new one (shown this once).
    Deliveries sent from now on, retries included, are signed with it.

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook.
    """
    ensure_admin(acting_user)
    secret = generate_token("whs")
    async with ctx.db.transaction("rotate_outgoing_hook_secret") as txn:
        await _hook_for_admin(txn, hook_id, acting_user)
        await hook_store.update_hook_txn(
            txn.conn,
            hook_id,
            secret_enc=ctx.secrets.encrypt(secret.encode(), context=secret_context(hook_id)),
        )
        await audit(
            ctx,
            txn,
            "hook.outgoing.secret_rotated",
            acting_user=acting_user,
            target_type="outgoing_hook",
            target_id=hook_id,
        )
    return secret


async def do_delete_outgoing_hook(ctx: Context, hook_id: int, *, acting_user: Requester) -> None:
    """Delete a hook with its outbox (deliveries not yet sent are dropped).

    Raises:
        Forbidden: not an admin.
        NotFound: no such hook.
    """
    ensure_admin(acting_user)
    async with ctx.db.transaction("delete_outgoing_hook") as txn:
        hook = await _hook_for_admin(txn, hook_id, acting_user)
        await hook_store.delete_hook_txn(txn.conn, hook_id)
        await audit(
            ctx,
            txn,
            "hook.outgoing.deleted",
            acting_user=acting_user,
            target_type="outgoing_hook",
            target_id=hook_id,
            details={"name": hook.name},
        )


# --- the outbox ------------------------------------------------------------------------


def _waker(ctx: Context) -> Callable[[], Awaitable[None]]:
    async def wake() -> None:
        ctx.deliveries_due.set()

    return wake


async def enqueue_deliveries_txn(
    ctx: Context,
    txn: Txn,
    *,
    room: RoomRecord,
    event: HookEvent,
    user_id: int,
    user: UserRecord | None = None,
    message: MessageRecord | None = None,
) -> int:
    """Write the outbox rows announcing ``event`` to the hooks watching ``room``, in
    the event's own transaction ``txn``; wake this process's worker after the commit.

    Cheap when no hook watches the room (the usual case): one indexed SELECT.
    Never announced: encrypted messages (the server can't read them, and no server
    feature may), anything in a DM, and messages posted by bots (incoming webhooks,
    bot accounts: a receiver that answers through an incoming webhook would otherwise
    loop forever).

    Args:
        room: Where the event happened.
        event: What happened.
        user_id: Who posted, joined or left (``user``: that account, if loaded).
        message: The message posted, for ``message.posted``.

    Returns:
        How many deliveries were written.
    """
    if room.kind is RoomKind.DM or (message is not None and message.content_type == ENCRYPTED):
        return 0
    if message is not None and user is not None and user.role is UserRole.BOT:
        return 0
    hooks = await hook_store.enabled_hooks_for_room(txn.conn, room.id)
    if not hooks:
        return 0
    chosen: list[tuple[OutgoingHookRecord, str | None]] = []
    for hook in hooks:
        if event.value not in hook.events:
            continue
        trigger: str | None = None
        if message is not None:
            matched = match_trigger(message.text, hook.trigger_words)
            if matched is None:
                continue
            trigger = matched.word
        chosen.append((hook, trigger))
    if not chosen:
        return 0
    if user is None or user.id != user_id:
        user = await user_store.get_user_by_id(txn.conn, user_id)
        if user is None or (message is not None and user.role is UserRole.BOT):
            return 0
    payload_room = PayloadRoom(id=format_id(room.id), name=room.name, kind=room.kind.value)
    payload_user = PayloadUser(
        id=format_id(user.id), username=user.username, display_name=user.display_name
    )
    payload_message = (
        PayloadMessage(
            id=format_id(message.id),
            text=message.text,
            thread_id=format_id(message.thread_id) if message.thread_id is not None else None,
            created_at=message.created_at,
        )
        if message is not None
        else None
    )
    deliveries = []
    for hook, trigger in chosen:
        delivery_id = ctx.ids.next_id()
        body = delivery_body(
            delivery_id=format_id(delivery_id),
            event=event,
            hook_id=format_id(hook.id),
            created_at=txn.now,
            room=payload_room,
            user=payload_user,
            message=payload_message,
            trigger_word=trigger,
        )
        deliveries.append(
            DeliveryRecord(
                id=delivery_id,
                hook_id=hook.id,
                event=event.value,
                body=body,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                created_at=txn.now,
                next_attempt_at=txn.now,
                locked_until=None,
                delivered_at=None,
                last_status_code=None,
                last_error="",
            )
        )
    await hook_store.insert_deliveries_txn(txn.conn, deliveries)
    txn.after_commit(_waker(ctx))
    return len(deliveries)
