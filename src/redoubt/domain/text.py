"""Names, emoji and mentions: validation and parsing of user-supplied text."""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ROOM_MENTIONS",
    "Mentions",
    "is_valid_emoji",
    "is_valid_room_name",
    "is_valid_username",
    "parse_mentions",
]

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
_ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SHORTCODE = re.compile(r"[a-z0-9_+-]{1,64}")
_CODE = re.compile(r"```.*?(```|$)|`[^`\n]*`", re.S)
# A mention ends before sentence punctuation ("thanks @bob." names bob), and doesn't start
# inside a word, a path or an address ("x/@bob", "a+@bob", "bob@example.com").
_MENTION = re.compile(
    r"(?<![\w@./+])@([A-Za-z0-9](?:[A-Za-z0-9._-]{0,30}[A-Za-z0-9_-])?)(?![\w@]|\.\w)"
)
ROOM_MENTIONS = frozenset({"here", "all"})
# Characters allowed in a Unicode emoji reaction besides symbols (So): ZWJ, variation
# selectors and keycap combiners; skin-tone modifiers; tag characters (subdivision flags).
_EMOJI_JOINERS = {"\u200d", "\ufe0f", "\ufe0e", "\u20e3"}
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")


def is_valid_username(name: str) -> bool:
    return _USERNAME.fullmatch(name) is not None and name not in ROOM_MENTIONS


def is_valid_room_name(name: str) -> bool:
    return _ROOM_NAME.fullmatch(name) is not None


def is_valid_emoji(emoji: str) -> bool:
    """A shortcode (``thumbs_up``) or one short sequence of Unicode emoji characters."""
    if _SHORTCODE.fullmatch(emoji):
        return True
    if not 1 <= len(emoji) <= 16:
        return False
    if _KEYCAP.fullmatch(emoji):
        return True
    return unicodedata.category(emoji[0]) == "So" and all(
        ch in _EMOJI_JOINERS
        or ord(ch) in _SKIN_TONES
        or ord(ch) in _TAGS
        or unicodedata.category(ch) == "So"
        for ch in emoji
    )


class Mentions:
    __slots__ = ("room", "usernames")

    def __init__(self, usernames: frozenset[str], room: bool) -> None:
        self.usernames = usernames
        """Lower-cased usernames mentioned with ``@name``."""
        self.room = room
        """True when ``@here`` or ``@all`` was used."""


def parse_mentions(text: str) -> Mentions:
    """Find ``@user``, ``@here`` and ``@all`` outside code spans and blocks."""
    plain = _CODE.sub(" ", text)
    names = {m.group(1).lower() for m in _MENTION.finditer(plain)}
    return Mentions(frozenset(names - ROOM_MENTIONS), bool(names & ROOM_MENTIONS))
