"""Outgoing webhooks: event names, views, trigger words, payloads and retry timing.

Pure rules only; the outbox table, the worker and the HTTP calls live in storage and
actions.

**Trigger words** (Rocket.Chat style): a hook with no trigger words fires on every
message of its rooms. A hook with trigger words fires only when the message's *first
word* is one of them: the text is split on whitespace and its first word compared with
each trigger word, ignoring case (``deploy now`` triggers ``deploy``; ``please deploy``
and ``deploying`` don't). The payload names the trigger word that matched, as the
admin spelled it.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "MAX_HOOK_ROOMS",
    "MAX_TRIGGER_WORDS",
    "MAX_TRIGGER_WORD_CHARS",
    "DeliveryStatus",
    "DeliveryView",
    "HookEvent",
    "OutgoingHookView",
    "PayloadMessage",
    "PayloadRoom",
    "PayloadUser",
    "TriggerMatch",
    "delivery_body",
    "match_trigger",
    "retry_delay",
    "short_error",
    "valid_trigger_word",
]

MAX_HOOK_ROOMS = 50
MAX_TRIGGER_WORDS = 20
MAX_TRIGGER_WORD_CHARS = 32
_MAX_ERROR_CHARS = 200
JITTER = 0.2
"""Retry delays vary by up to this fraction either way, so hooks that failed together
don't all retry in the same instant."""


class HookEvent(enum.StrEnum):
    MESSAGE_POSTED = "message.posted"
    """A message in one of the hook's rooms (filtered by the trigger words)."""
    MEMBER_JOINED = "member.joined"
    """Someone joined or was added to one of the hook's rooms."""
    MEMBER_LEFT = "member.left"
    """Someone left or was removed from one of the hook's rooms."""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    """Waiting for its next attempt (or being attempted now)."""
    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    FAILED = "failed"
    """Every attempt failed; the hook was disabled."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OutgoingHookView(_View):
    """An outgoing webhook as admins see it (never its secret)."""

    id: str
    name: str
    url: str
    room_ids: list[str]
    events: list[HookEvent]
    trigger_words: list[str]
    enabled: bool
    disabled_reason: str
    """Why the hook is off ("" while enabled)."""
    owner_id: str
    created_at: dt.datetime


class DeliveryView(_View):
    """One outbox row: an event on its way to a hook's URL."""

    id: str
    """The delivery id, sent as ``X-Redoubt-Delivery``; receivers de-duplicate on it."""
    event: HookEvent
    status: DeliveryStatus
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    last_status_code: int | None
    last_error: str


def valid_trigger_word(word: str) -> bool:
    """One word: 1-32 characters, no whitespace, no control characters."""
    return (
        0 < len(word) <= MAX_TRIGGER_WORD_CHARS
        and not any(c.isspace() for c in word)
        and word.isprintable()
    )


@dataclass(frozen=True, slots=True)
class TriggerMatch:
    """A message fires the hook; ``word`` is the trigger word it matched (None when
    the hook has no trigger words and fires on every message)."""

    word: str | None


def match_trigger(text: str, trigger_words: Sequence[str]) -> TriggerMatch | None:
    """Whether a message with ``text`` fires a hook with ``trigger_words`` (see the
    module docstring); None when it doesn't."""
    if not trigger_words:
        return TriggerMatch(None)
    words = text.split(maxsplit=1)
    if not words:
        return None
    first = words[0].casefold()
    for word in trigger_words:
        if word.casefold() == first:
            return TriggerMatch(word)
    return None


def retry_delay(attempts: int, *, base: float, maximum: float, jitter_unit: float) -> float:
    """Seconds until the next attempt after ``attempts`` failed ones.

    ``base * 2^(attempts-1)``, capped at ``maximum``, then moved by up to ±20 %
    (``jitter_unit`` is a random number in [0, 1); 0.5 means no change).
    """
    exponent = min(max(attempts - 1, 0), 62)  # 2**62 * base is past any cap already
    delay = min(base * 2.0**exponent, maximum)
    return delay * (1.0 + JITTER * (2.0 * jitter_unit - 1.0))


def short_error(text: str) -> str:
    """A failure reason fit for the ``last_error`` column: one line, bounded."""
    flat = " ".join(text.split())
    return flat[:_MAX_ERROR_CHARS]


class PayloadRoom(_View):
    id: str
    name: str | None
    kind: str


class PayloadUser(_View):
    id: str
    username: str
    display_name: str


class PayloadMessage(_View):
    id: str
    text: str
    thread_id: str | None
    created_at: dt.datetime


def delivery_body(
    *,
    delivery_id: str,
    event: HookEvent,
    hook_id: str,
    created_at: dt.datetime,
    room: PayloadRoom,
    user: PayloadUser,
    message: PayloadMessage | None,
    trigger_word: str | None,
) -> str:
    """The exact JSON a delivery POSTs (and signs). Built from explicit fields only:
    no secret, token or internal column can end up in it."""
    out: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event.value,
        "hook_id": hook_id,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "room": room.model_dump(mode="json"),
        "user": user.model_dump(mode="json"),
        "message": message.model_dump(mode="json") if message is not None else None,
        "trigger_word": trigger_word,
    }
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)
