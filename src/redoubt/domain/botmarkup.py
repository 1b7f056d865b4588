"""Bot message markup (pure): Telegram's ``reply_markup`` checked and stored.

A bot's ``sendMessage`` may carry one of four markups; what is kept on the message:

- ``InlineKeyboardMarkup``: rows of buttons, each either a callback button (its
  ``callback_data``, 1-64 bytes, stays on the server: clients see the button's text and
  kind, and name it by position when they click) or a link (absolute http/https URL
  only). Every other button kind is refused, so a bot can't make the client open a
  ``javascript:`` or ``tg:`` link.
- ``ReplyKeyboardMarkup`` (a tap sends the label as a message), ``ReplyKeyboardRemove``
  and ``ForceReply``: stored as the client's ``ReplyKeyboardView``. ``selective``,
  ``resize_keyboard`` and ``is_persistent`` are accepted and ignored.

Stored inline keyboards are JSON ``[[{"text": …, "callback_data": …} | {"text": …,
"url": …}]]``, the same shape Telegram's ``inline_keyboard`` has, so a bot's own
message comes back to it (``callback_query.message.reply_markup``) as it sent it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redoubt.domain.views import InlineButtonView, ReplyKeyboardView

__all__ = [
    "CALLBACK_TTL",
    "InlineButton",
    "Markup",
    "MarkupError",
    "button_at",
    "inline_json",
    "inline_telegram",
    "inline_view",
    "parse_inline_keyboard",
    "parse_reply_markup",
    "reply_json",
    "reply_view",
]

CALLBACK_TTL = dt.timedelta(minutes=15)
"""How long a bot may take to answer a click (after that the click is forgotten)."""
MAX_ROWS = 100
MAX_BUTTONS = 100
MAX_ROW_BUTTONS = 12
MAX_BUTTON_TEXT = 128
MAX_CALLBACK_BYTES = 64
MAX_URL_CHARS = 2048
MAX_PLACEHOLDER = 64


class MarkupError(ValueError):
    """Markup a bot may not send; the message is the detail of a 400."""


@dataclass(frozen=True, slots=True)
class InlineButton:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Markup:
    """What a ``reply_markup`` parameter became (both None: no markup)."""

    inline: tuple[tuple[InlineButton, ...], ...] | None = None
    reply: ReplyKeyboardView | None = None


def _utf8(value: str) -> bytes:
    try:
        return value.encode()
    except UnicodeEncodeError:  # lone surrogates
        raise MarkupError("text must be valid UTF-8") from None


def _label(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MarkupError("button text must be a non-empty string")
    _utf8(value)
    if len(value) > MAX_BUTTON_TEXT:
        raise MarkupError("button text is too long")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise MarkupError("button text can't contain control characters")
    return value


def _http_url(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_URL_CHARS:
        raise MarkupError("button URL is invalid")
    _utf8(value)
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value):
        raise MarkupError("button URL is invalid")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise MarkupError("button URL is invalid") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise MarkupError("button URL must be an http or https URL")
    return value


def _rows(value: Any, what: str) -> list[list[Any]]:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise MarkupError(f"{what} must be an array of button arrays")
    rows = [row for row in value if row]
    if not rows:
        raise MarkupError(f"{what} has no buttons")
    if len(rows) > MAX_ROWS or any(len(row) > MAX_ROW_BUTTONS for row in rows):
        raise MarkupError(f"{what} has too many buttons")
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise MarkupError(f"{what} has too many buttons")
    return rows


_INLINE_KINDS = frozenset(
    {
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    }
)


def _inline_button(value: Any) -> InlineButton:
    if not isinstance(value, Mapping):
        raise MarkupError("inline keyboard button must be an object")
    text = _label(value.get("text"))
    kinds = [k for k in _INLINE_KINDS if value.get(k) is not None]
    if kinds == ["callback_data"]:
        data = value["callback_data"]
        if not isinstance(data, str) or not 1 <= len(_utf8(data)) <= MAX_CALLBACK_BYTES:
            raise MarkupError("BUTTON_DATA_INVALID")
        return InlineButton(text=text, callback_data=data)
    if kinds == ["url"]:
        return InlineButton(text=text, url=_http_url(value["url"]))
    if len(kinds) > 1:
        raise MarkupError("inline keyboard button must have exactly one kind")
    if kinds:
        raise MarkupError(f"unsupported inline keyboard button kind {kinds[0]}")
    raise MarkupError("BUTTON_TYPE_INVALID")


def _placeholder(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_PLACEHOLDER:
        raise MarkupError("input_field_placeholder must be at most 64 characters")
    return _label(value) if value.strip() else None


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MarkupError(f"{name} must be a boolean")
    return value


_REPLY_EXTRAS = (
    "request_users",
    "request_chat",
    "request_contact",
    "request_location",
    "request_poll",
    "web_app",
)


def _reply_button(value: Any) -> str:
    if isinstance(value, str):
        return _label(value)
    if not isinstance(value, Mapping):
        raise MarkupError("keyboard button must be a string or an object")
    if any(value.get(k) not in (None, False) for k in _REPLY_EXTRAS):
        raise MarkupError("unsupported keyboard button kind")
    return _label(value.get("text"))


def parse_inline_keyboard(value: Any) -> tuple[tuple[InlineButton, ...], ...]:
    """Rows of inline buttons (Telegram's ``inline_keyboard``, also the native API's
    ``buttons``): callback buttons and http(s) links only.

    Raises:
        MarkupError: a button or URL we refuse, or too many buttons.
    """
    rows = _rows(value, "inline keyboard")
    return tuple(tuple(_inline_button(b) for b in row) for row in rows)


def parse_reply_markup(value: Any) -> Markup:
    """A ``reply_markup`` object (already decoded from JSON) as stored markup.

    Raises:
        MarkupError: not one of the four markups, or a button or URL we refuse.
    """
    if value is None:
        return Markup()
    if not isinstance(value, Mapping):
        raise MarkupError("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        return Markup(inline=parse_inline_keyboard(value["inline_keyboard"]))
    if "keyboard" in value:
        rows = _rows(value["keyboard"], "keyboard")
        return Markup(
            reply=ReplyKeyboardView(
                keyboard=[[_reply_button(b) for b in row] for row in rows],
                one_time=_flag(value.get("one_time_keyboard"), "one_time_keyboard"),
                placeholder=_placeholder(value.get("input_field_placeholder")),
                force_reply=False,
                remove=False,
            )
        )
    if value.get("remove_keyboard") is True:
        return Markup(
            reply=ReplyKeyboardView(
                keyboard=[], one_time=False, placeholder=None, force_reply=False, remove=True
            )
        )
    if value.get("force_reply") is True:
        return Markup(
            reply=ReplyKeyboardView(
                keyboard=[],
                one_time=False,
                placeholder=_placeholder(value.get("input_field_placeholder")),
                force_reply=True,
                remove=False,
            )
        )
    raise MarkupError("can't parse reply keyboard markup JSON object")


# --- stored forms ---------------------------------------------------------------------


def _button_json(button: InlineButton) -> dict[str, str]:
    if button.callback_data is not None:
        return {"text": button.text, "callback_data": button.callback_data}
    return {"text": button.text, "url": button.url or ""}


def inline_json(rows: tuple[tuple[InlineButton, ...], ...] | None) -> str | None:
    if not rows:
        return None
    return json.dumps([[_button_json(b) for b in row] for row in rows], separators=(",", ":"))


def reply_json(view: ReplyKeyboardView | None) -> str | None:
    return view.model_dump_json() if view is not None else None


def _load_inline(stored: str | None) -> list[list[InlineButton]]:
    if not stored:
        return []
    rows: list[list[dict[str, str]]] = json.loads(stored)
    return [
        [
            InlineButton(text=b["text"], callback_data=b.get("callback_data"), url=b.get("url"))
            for b in row
        ]
        for row in rows
    ]


def inline_view(stored: str | None) -> list[list[InlineButtonView]] | None:
    """The keyboard as clients see it: no callback_data."""
    rows = _load_inline(stored)
    if not rows:
        return None
    return [
        [
            InlineButtonView(
                text=b.text,
                kind="callback" if b.callback_data is not None else "url",
                url=b.url if b.callback_data is None else None,
            )
            for b in row
        ]
        for row in rows
    ]


def inline_telegram(stored: str | None) -> dict[str, Any] | None:
    """The bot's ``InlineKeyboardMarkup`` (what it sent), or None."""
    if not stored:
        return None
    return {"inline_keyboard": json.loads(stored)}


def reply_view(stored: str | None) -> ReplyKeyboardView | None:
    return ReplyKeyboardView.model_validate_json(stored) if stored else None


def button_at(stored: str | None, row: int, column: int) -> InlineButton | None:
    """The button at (row, column), or None when there is none there."""
    rows = _load_inline(stored)
    if not 0 <= row < len(rows) or not 0 <= column < len(rows[row]):
        return None
    return rows[row][column]
