"""Helpers shared by the actions: audit rows and event payloads."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel

from redoubt.core.errors import BadRequest
from redoubt.domain.enums import UserRole
from redoubt.domain.events import EventType
from redoubt.domain.permissions import RoomAction, Verdict, decide
from redoubt.domain.text import is_valid_username
from redoubt.queries.context import Context, Requester
from redoubt.queries.rooms import RoomAccess
from redoubt.storage import two_factor as two_factor_store
from redoubt.storage import users as user_store
from redoubt.storage.audit import AuditRecord, insert_audit_txn
from redoubt.storage.database import Txn

__all__ = ["account_names", "audit", "end_sessions_txn", "payload", "uses_admin_power"]


async def audit(
    ctx: Context,
    txn: Txn,
    action: str,
    *,
    acting_user: Requester | None,
    target_type: str,
    target_id: int | None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Write one audit row in ``txn`` (``acting_user`` None means the server or CLI).

    An action taken with an API token names the token, so each token's trail of
    changes can be read back from the log.
    """
    if acting_user is not None and acting_user.grant is not None:
        details = {**(details or {}), "via_token": str(acting_user.grant.token_id)}
    await insert_audit_txn(
        txn.conn,
        AuditRecord(
            id=ctx.ids.next_id(),
            at=txn.now,
            actor_id=acting_user.id if acting_user else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            ip=ip if ip is not None else (acting_user.ip if acting_user else ""),
            details=details or {},
        ),
    )


def account_names(username: str, display_name: str | None) -> tuple[str, str]:
    """A new account's username (lower-cased, checked) and display name (the username
    when none is given), for people and bots alike.

    Raises:
        BadRequest: the username isn't a valid one.
    """
    username = username.lower()
    if not is_valid_username(username):
        raise BadRequest(
            "Usernames are 2-32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return username, (display_name or username).strip() or username


def payload(**parts: BaseModel | str | int | None) -> str:
    """Serialise an event's ``data`` object made of views and scalars."""
    out: dict[str, Any] = {}
    for key, value in parts.items():
        out[key] = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return json.dumps(out, separators=(",", ":"))


async def end_sessions_txn(
    txn: Txn,
    user_id: int,
    *,
    reason: str,
    only: Collection[int] | None = None,
    keep: int | None = None,
    announce: bool = True,
) -> list[int]:
    """End sessions of a user (those in ``only``, or every one, never ``keep``), and with
    them any login half done (password step passed, second factor pending).

    The event streams opened with the ended sessions close at once: one "every
    session" event when all end, else one event per ended session, so the streams of
    the kept session stay open. ``announce=False`` is for deactivation, whose own
    ``user.updated`` event closes the streams with the deactivated close code.

    Returns the ids of the sessions that ended.
    """
    await two_factor_store.delete_user_challenges_txn(txn.conn, user_id)
    ended = await user_store.delete_sessions_txn(txn.conn, user_id, only=only, keep=keep)
    if not announce:
        return ended
    if only is None and keep is None:
        await txn.append_event(
            EventType.SESSION_ENDED, payload(session_id=None, reason=reason), user_id=user_id
        )
    else:
        for session_id in ended:
            await txn.append_event(
                EventType.SESSION_ENDED,
                payload(session_id=str(session_id), reason=reason),
                user_id=user_id,
            )
    return ended


def uses_admin_power(acting_user: Requester, access: RoomAccess, action: RoomAction) -> bool:
    """Whether ``action`` is allowed only because the actor is an admin (a plain user
    with the same membership would be refused): such uses are audited. Judged on rights
    alone: whether the room is archived is for the permission check, done before."""
    if acting_user.user.role is not UserRole.ADMIN:
        return False
    as_user = decide(
        UserRole.USER,
        access.room.kind,
        access.membership.role if access.membership else None,
        action,
        archived=False,
    )
    return as_user is not Verdict.ALLOW
