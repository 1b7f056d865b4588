"""Incoming webhooks: the payload schema, the refusal reasons, and the admin view.

A hook posts into exactly one room as its own bot account. Its requests are signed
(``core/signing.py``) or, in legacy mode, carry a token in the URL. The payload is a
strict subset of the Slack / Rocket.Chat incoming format::

    {"text": "Deploy finished",
     "attachments": [{"title": "build 42", "title_link": "https://ci.example/42",
                      "text": "all green", "color": "#36a64f", "author_name": "CI",
                      "fields": [{"title": "branch", "value": "main", "short": true}],
                      "fallback": "build 42: all green"}],
     "channel": "#deploys"}

* Unknown keys, wrong JSON types, oversize strings or lists are refused (no coercion:
  ``"short": "true"`` is an error, not ``True``).
* ``channel`` is optional; when present it must name the hook's own room (its name or
  id, with or without a leading ``#``), anything else is refused.
* ``username``, ``icon_url`` and ``icon_emoji`` are accepted for compatibility and
  ignored: the name and avatar are the admin's choice, not the sender's. An attachment's
  ``fallback`` is accepted and ignored (we show the attachment itself).
* Everything is text. Slack's ``mrkdwn`` is not interpreted, and clients render
  attachment strings as text nodes, never as HTML (T12). ``title_link`` is http(s) only
  and ``color`` exactly ``#rrggbb``.
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import override

from redoubt.domain.views import AttachmentFieldView, AttachmentView

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_FIELDS",
    "MAX_HOOK_NAME_CHARS",
    "RECEIVE_PATH",
    "HookAttachment",
    "HookAttachmentField",
    "HookPayload",
    "HookRefused",
    "IncomingHookView",
    "Refusal",
    "attachment_views",
    "channel_names_room",
    "clean_hook_name",
    "is_http_url",
    "legacy_path",
    "parse_hook_payload",
    "parse_timestamp",
    "receive_path",
]

MAX_ATTACHMENTS = 10
MAX_FIELDS = 20
MAX_HOOK_NAME_CHARS = 64
_MAX_TEXT_CHARS = 40_000
"""A hard ceiling; the deployment's ``max_message_chars`` applies below it."""
_MAX_URL_CHARS = 2048
_MAX_TIMESTAMP_DIGITS = 12

RECEIVE_PATH = "/api/v1/hooks/{hook_id}"
"""Where a hook's signed requests go (the API's route, spelled out for the views)."""


class Refusal(enum.StrEnum):
    """Why a request to a hook was refused (the ``reason`` of its audit row)."""

    TOO_LARGE = "too_large"
    UNKNOWN_HOOK = "unknown_hook"
    DISABLED = "disabled"
    UNSIGNED = "unsigned"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_SIGNATURE = "bad_signature"
    # A reason name, not a secret.
    BAD_URL_TOKEN = "bad_url_token"  # noqa: S105  # nosec B105
    REPLAY = "replay"
    FLOOD = "flood"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    MALFORMED = "malformed"
    """Not JSON at all."""
    INVALID_PAYLOAD = "invalid_payload"
    """JSON, but not our schema (unknown keys, wrong types, limits, empty)."""
    WRONG_ROOM = "wrong_room"
    """``channel`` names a room other than the hook's own."""
    ROOM_UNAVAILABLE = "room_unavailable"
    """The hook's room is archived, or its account was removed from it."""


class HookRefused(Exception):
    """A request to an incoming hook is refused; nothing was posted.

    ``hook_id`` is set only once the hook was found, so that audit rows (and their rate
    limit) are keyed by hooks that exist, never by ids a client made up.
    """

    def __init__(
        self, reason: Refusal, *, hook_id: int | None = None, retry_after: float = 0.0
    ) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.hook_id = hook_id
        self.retry_after = retry_after

    @override
    def __repr__(self) -> str:
        return f"HookRefused({self.reason.value!r}, hook_id={self.hook_id})"


def receive_path(hook_id: str) -> str:
    return RECEIVE_PATH.format(hook_id=hook_id)


def legacy_path(hook_id: str, url_token: str) -> str:
    """The legacy URL: the secret sits in the path (shown once, redacted from logs)."""
    return f"{receive_path(hook_id)}/{url_token}"


def is_http_url(value: str, *, https_only: bool = False) -> bool:
    """An absolute http(s) URL with a host, free of whitespace and control characters."""
    if len(value) > _MAX_URL_CHARS or any(
        ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in value
    ):
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    schemes = ("https",) if https_only else ("http", "https")
    return parts.scheme in schemes and bool(host)


def clean_hook_name(name: str) -> str | None:
    """The name trimmed, or None when it is empty, too long or holds control characters."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_HOOK_NAME_CHARS:
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        return None
    return name


def parse_timestamp(value: str | None) -> int | None:
    """The ``X-Redoubt-Timestamp`` header as Unix seconds, or None when malformed."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    if len(value) > _MAX_TIMESTAMP_DIGITS:
        return None
    return int(value)


def channel_names_room(channel: str, *, room_id: str, room_name: str | None) -> bool:
    """``channel`` names the room: its id or name, with or without one leading ``#``."""
    wanted = channel.strip()
    wanted = wanted.removeprefix("#")
    if not wanted:
        return False
    return wanted == room_id or (room_name is not None and wanted.lower() == room_name)


# --- the payload ------------------------------------------------------------------------


def _http_url(value: str) -> str:
    if not is_http_url(value):
        raise ValueError("must be an absolute http or https URL")
    return value


def _capped(max_chars: int) -> StringConstraints:
    return StringConstraints(max_length=max_chars)


Title = Annotated[str, _capped(256)]
FieldValue = Annotated[str, _capped(2000)]
AttachmentText = Annotated[str, _capped(8000)]
AuthorName = Annotated[str, _capped(128)]
MessageText = Annotated[str, _capped(_MAX_TEXT_CHARS)]
Channel = Annotated[str, _capped(130)]
IgnoredName = Annotated[str, _capped(128)]
IgnoredUrl = Annotated[str, _capped(_MAX_URL_CHARS)]
IgnoredEmoji = Annotated[str, _capped(64)]
HttpUrl = Annotated[str, StringConstraints(max_length=_MAX_URL_CHARS), AfterValidator(_http_url)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class _Strict(BaseModel):
    # Strict: JSON types as they are (no "1" for 1, no "true" for true); closed; and a
    # validation error never quotes what the sender sent.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL refuses NUL in text; nothing legitimate needs one.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class HookAttachmentField(_Strict):
    title: Title = ""
    value: FieldValue = ""
    short: bool = False


class HookAttachment(_Strict):
    title: Title | None = None
    title_link: HttpUrl | None = None
    text: AttachmentText | None = None
    color: Colour | None = None
    author_name: AuthorName | None = None
    fields: Annotated[list[HookAttachmentField], Field(max_length=MAX_FIELDS)] = []
    fallback: FieldValue | None = None
    """Accepted (Slack senders always send one) and ignored."""

    @model_validator(mode="after")
    def _not_empty(self) -> HookAttachment:
        if not (self.title or self.text or self.author_name or self.fields):
            raise ValueError("an attachment needs a title, text, author_name or fields")
        return self


class HookPayload(_Strict):
    text: MessageText | None = None
    attachments: Annotated[list[HookAttachment], Field(max_length=MAX_ATTACHMENTS)] = []
    channel: Channel | None = None
    """Must name the hook's own room when given."""
    username: IgnoredName | None = None
    """Ignored: the hook's name is set by the admin."""
    icon_url: IgnoredUrl | None = None
    """Ignored: the hook's avatar is set by the admin."""
    icon_emoji: IgnoredEmoji | None = None
    """Ignored."""

    @field_validator("text", mode="after")
    @classmethod
    def _text_within_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit = (info.context or {}).get("max_text_chars", _MAX_TEXT_CHARS)
        if value is not None and len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    @model_validator(mode="after")
    def _says_something(self) -> HookPayload:
        if not (self.text and self.text.strip()) and not self.attachments:
            raise ValueError("text must not be empty unless there are attachments")
        return self


def parse_hook_payload(body: bytes, *, max_text_chars: int) -> HookPayload:
    """Validate a request body against the payload schema.

    Raises:
        HookRefused: ``MALFORMED`` when the body isn't JSON (or UTF-8), else
            ``INVALID_PAYLOAD`` when it doesn't match the schema.
    """
    try:
        return HookPayload.model_validate_json(body, context={"max_text_chars": max_text_chars})
    except ValidationError as exc:
        kinds = {err["type"] for err in exc.errors(include_input=False)}
        reason = Refusal.MALFORMED if kinds & {"json_invalid", "json_type"} else None
        raise HookRefused(reason or Refusal.INVALID_PAYLOAD) from None


def attachment_views(payload: HookPayload) -> list[AttachmentView]:
    """The attachments as stored and shown (``fallback`` dropped)."""
    return [
        AttachmentView(
            title=a.title,
            title_link=a.title_link,
            text=a.text,
            color=a.color,
            author_name=a.author_name,
            fields=[
                AttachmentFieldView(title=f.title, value=f.value, short=f.short) for f in a.fields
            ],
        )
        for a in payload.attachments
    ]


# --- the admin view ---------------------------------------------------------------------


class IncomingHookView(BaseModel):
    """An incoming hook as admins see it. Never holds its secret or URL token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    room_id: str
    room_name: str | None
    user_id: str
    """The hook's own bot account: the author of its messages."""
    avatar_url: str
    enabled: bool
    legacy_url_token: bool
    """The hook also accepts unsigned requests with a secret in the URL (Slack-style
    senders). Weaker: URLs end up in proxy logs and browser histories."""
    url: str
    """Where signed requests go (path on this server)."""
    created_at: dt.datetime
    last_used_at: dt.datetime | None
