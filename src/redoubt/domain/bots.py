"""Bot accounts as admins see them, and the shape of a bot token."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict

from redoubt.domain.views import UserPublicView

__all__ = [
    "BOT_KIND",
    "MAX_BOT_ROOMS",
    "MAX_DESCRIPTION_CHARS",
    "BotView",
    "bot_id_of_token",
    "bot_token_hint",
]

BOT_KIND = "bot"
"""The ``kind`` of a bot's rows in api_tokens (a type tag, not a secret)."""
MAX_BOT_ROOMS = 100
MAX_DESCRIPTION_CHARS = 512

# "<bot user id>:<43 base64url characters>" (256 random bits): the shape Telegram
# clients expect (they split it at the colon and check the id is a number).
_TOKEN_SHAPE = re.compile(r"([1-9][0-9]{0,15}):([A-Za-z0-9_\-]{43})")


def bot_id_of_token(token: str) -> int | None:
    """The bot id a well-shaped bot token names; None for anything else."""
    match = _TOKEN_SHAPE.fullmatch(token)
    return int(match.group(1)) if match else None


def bot_token_hint(token: str) -> str:
    """What lists show of a bot token: the bot's id and the first four random characters
    (24 of 256 bits: enough to tell tokens apart, far too few to guess the rest)."""
    bot_id, _, secret = token.partition(":")
    return f"{bot_id}:{secret[:4]}…"


class BotView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    username: str
    display_name: str
    description: str
    owner: UserPublicView
    room_ids: list[str]
    """The rooms it may be added to; it can be in no other (DMs opened with it aside)."""
    created_at: dt.datetime
    token_hint: str | None
    """Its current token's first characters; None when it has no working token."""
    quarantined_at: dt.datetime | None
    quarantine_reason: str
    """Which activity rule put it in quarantine, with the figures ("" when not)."""
    scopes: list[str]
    """What its token may do on the native REST API."""
