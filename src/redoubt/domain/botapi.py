"""The Telegram-compatible Bot API's objects, ids and text formatting (pure).

Ids. Telegram clients need integers that stay exact in 52 bits; ours are 52-bit ids
from one scheme shared by every table (core/ids.py), so they never collide:

- a private chat (a DM of the bot with one person) has that person's user id (> 0);
- every other chat (channel, private group, DM of three or more) is ``-(room id)``
  (< 0, at least ``-MAX_ID``). python-telegram-bot treats negative ids as groups.

Telegram's ``-100…`` supergroup prefix would need ids below 10^12 and ours aren't, so
the type (``group``, ``supergroup``) says what the room is, not the number.

Update ids are event stream positions (``events.seq``, monotonic, < 2^52).

Text. Entity offsets and lengths are in UTF-16 code units, as Telegram's are. A bot's
``parse_mode`` text (HTML, MarkdownV2, legacy Markdown) is parsed into a small tree and
rendered as Redoubt markdown, and text without a parse mode is escaped, so a bot can
never produce markup it didn't ask for: every character outside a supported entity is
backslash-escaped, and links keep only absolute http(s) URLs (``tg://user`` mentions
become their text).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

from redoubt.core.ids import MAX_ID
from redoubt.domain.enums import MemberRole

__all__ = [
    "CHAT_NOT_FOUND",
    "IMAGE_HEAD_BYTES",
    "PHOTO_TYPES",
    "BotChat",
    "BotFile",
    "BotUser",
    "EntityParseError",
    "callback_update",
    "chat_id_of_room",
    "chat_instance",
    "chat_member_object",
    "chat_object",
    "error_body",
    "escape_markdown",
    "file_id_text",
    "file_object",
    "file_of_path",
    "file_path_of",
    "image_size",
    "media_fields",
    "message_entities",
    "message_object",
    "ok_body",
    "parse_chat_id",
    "parse_file_id",
    "render_text",
    "room_id_of_chat",
    "update_object",
    "user_object",
    "utf16_len",
]

CHAT_NOT_FOUND = "chat not found"

# --- ids ------------------------------------------------------------------------------


def chat_id_of_room(room_id: int) -> int:
    """The chat id of a room that isn't a one-to-one DM."""
    return -room_id


def room_id_of_chat(chat_id: int) -> int | None:
    """The room a negative chat id names; None for user ids (and out-of-range values)."""
    if chat_id < 0 and -chat_id <= MAX_ID:
        return -chat_id
    return None


_CHAT_ID = re.compile(r"-?[1-9][0-9]{0,15}")


def parse_chat_id(value: str) -> int | None:
    """A ``chat_id`` parameter as a number of ours; None for ``@name`` or anything else."""
    if not _CHAT_ID.fullmatch(value):
        return None
    number = int(value)
    return number if abs(number) <= MAX_ID else None


# --- objects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BotUser:
    id: int
    username: str
    display_name: str
    is_bot: bool


@dataclass(frozen=True, slots=True)
class BotChat:
    id: int
    type: str
    """``private``, ``group`` or ``supergroup``."""
    title: str | None = None
    user: BotUser | None = None
    """The other person of a private chat."""


def user_object(user: BotUser) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": user.id,
        "is_bot": user.is_bot,
        # Required and non-empty for clients; display names can be blank.
        "first_name": user.display_name or user.username or str(user.id),
    }
    if user.username:
        out["username"] = user.username
    return out


def chat_object(chat: BotChat) -> dict[str, Any]:
    out: dict[str, Any] = {"id": chat.id, "type": chat.type}
    if chat.user is not None:
        out["first_name"] = chat.user.display_name or chat.user.username or str(chat.user.id)
        if chat.user.username:
            out["username"] = chat.user.username
    elif chat.title is not None:
        out["title"] = chat.title or str(-chat.id)
    return out


def message_object(
    *,
    message_id: int,
    date: dt.datetime,
    chat: BotChat,
    sender: BotUser,
    text: str,
    files: Sequence[BotFile] = (),
    edit_date: dt.datetime | None = None,
    reply_markup: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Message`` with every field Telegram clients require (``date`` never 0).

    A message with files carries the first as ``photo`` or ``document`` (a Telegram
    message holds one media item) and its text as ``caption``.
    """
    out: dict[str, Any] = {
        "message_id": message_id,
        "date": max(int(date.timestamp()), 1),
        "chat": chat_object(chat),
        "from": user_object(sender),
    }
    if files:
        out.update(media_fields(files[0]))
    if text:
        text_key, entities_key = ("caption", "caption_entities") if files else ("text", "entities")
        out[text_key] = text
        entities = message_entities(text)
        if entities:
            out[entities_key] = entities
    if edit_date is not None:
        out["edit_date"] = max(int(edit_date.timestamp()), 1)
    if reply_markup is not None:
        out["reply_markup"] = dict(reply_markup)
    return out


def update_object(
    update_id: int, message: Mapping[str, Any], *, kind: str = "message"
) -> dict[str, Any]:
    """An ``Update`` carrying a message (``kind``: ``message`` or ``edited_message``)."""
    return {"update_id": update_id, kind: dict(message)}


def chat_instance(bot_id: int, room_id: int) -> str:
    """``callback_query.chat_instance``: stable per bot and chat, opaque."""
    return hashlib.sha256(f"chat-instance:{bot_id}:{room_id}".encode()).hexdigest()[:20]


def callback_update(
    update_id: int,
    *,
    callback_id: str,
    sender: BotUser,
    instance: str,
    data: str,
    message: Mapping[str, Any],
) -> dict[str, Any]:
    """An ``Update`` with a ``callback_query``: a click on the bot's ``message``."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": callback_id,
            "from": user_object(sender),
            "chat_instance": instance,
            "data": data,
            "message": dict(message),
        },
    }


def chat_member_object(user: BotUser, role: MemberRole | None) -> dict[str, Any]:
    """A ``ChatMember``: owner → creator, moderator → administrator, member, or left."""
    who = user_object(user)
    if role is None:
        return {"status": "left", "user": who}
    if role is MemberRole.OWNER:
        return {"status": "creator", "user": who, "is_anonymous": False}
    if role is MemberRole.MODERATOR:
        return {
            "status": "administrator",
            "user": who,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": False,
            "can_restrict_members": True,
            "can_promote_members": False,
            "can_change_info": False,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_pin_messages": True,
        }
    return {"status": "member", "user": who}


def ok_body(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


_PREFIXES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
}


def error_body(
    status: int, detail: str | None = None, *, retry_after: int | None = None
) -> dict[str, Any]:
    """Telegram's error envelope: ``description`` is ``"<Prefix>: <detail>"``."""
    prefix = _PREFIXES.get(status, "Internal Server Error")
    if retry_after is not None:
        detail = f"retry after {retry_after}"
    description = f"{prefix}: {detail}" if detail and status not in (401, 404) else prefix
    out: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        out["parameters"] = {"retry_after": retry_after}
    return out


# --- files ----------------------------------------------------------------------------

PHOTO_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""Sniffed types a message shows as ``photo`` (when their size is readable)."""
IMAGE_HEAD_BYTES = 128 * 1024
"""How much of an image :func:`image_size` is given (the header is near the start)."""

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}
_FILE_PATH = re.compile(r"(?:photos|documents)/([1-9][0-9]{0,15})(?:\.[a-z0-9]{2,4})?")


@dataclass(frozen=True, slots=True)
class BotFile:
    """An uploaded file as the Bot API shows it.

    ``width``/``height`` are set for images whose header could be read; only those
    are shown as ``photo`` (PhotoSize needs both), every other file as ``document``.
    """

    id: int
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None

    @property
    def is_photo(self) -> bool:
        return self.content_type in PHOTO_TYPES and bool(self.width) and bool(self.height)


def file_id_text(file_id: int) -> str:
    """A file's ``file_id`` (and ``file_unique_id``): its id. Holding one grants
    nothing: every use checks that the bot can read the file's room."""
    return str(file_id)


def parse_file_id(value: str) -> int | None:
    value = value.strip()
    if not re.fullmatch(r"[1-9][0-9]{0,15}", value):
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def file_path_of(file: BotFile) -> str:
    """getFile's ``file_path``: kind and id, never a token or a server path."""
    folder = "photos" if file.is_photo else "documents"
    return f"{folder}/{file.id}{_EXTENSIONS.get(file.content_type, '')}"


def file_of_path(path: str) -> int | None:
    """The file id a ``file_path`` names (None for anything else)."""
    match = _FILE_PATH.fullmatch(path)
    if match is None:
        return None
    number = int(match.group(1))
    return number if number <= MAX_ID else None


def file_object(file: BotFile) -> dict[str, Any]:
    """getFile's ``File``."""
    return {
        "file_id": file_id_text(file.id),
        "file_unique_id": file_id_text(file.id),
        "file_size": file.size,
        "file_path": file_path_of(file),
    }


def media_fields(file: BotFile) -> dict[str, Any]:
    """``photo`` (one ``PhotoSize``) or ``document`` for a message's file."""
    ids = {"file_id": file_id_text(file.id), "file_unique_id": file_id_text(file.id)}
    if file.is_photo:
        size = {**ids, "width": file.width, "height": file.height, "file_size": file.size}
        return {"photo": [size]}
    return {
        "document": {
            **ids,
            "file_name": file.filename,
            "mime_type": file.content_type,
            "file_size": file.size,
        }
    }


def image_size(head: bytes) -> tuple[int, int] | None:
    """Width and height from the start of a PNG, GIF, JPEG or WebP file; None when
    the header isn't there or doesn't say."""
    size: tuple[int, int] | None = None
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        size = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        size = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    elif head.startswith(b"\xff\xd8"):
        size = _jpeg_size(head)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        size = _webp_size(head)
    if size is None or not (0 < size[0] <= 65535 and 0 < size[1] <= 65535):
        return None
    return size


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(head[pos + 2 : pos + 4], "big")
        if marker in _JPEG_SOF:
            height = int.from_bytes(head[pos + 5 : pos + 7], "big")
            width = int.from_bytes(head[pos + 7 : pos + 9], "big")
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(head[26:28], "little") & 0x3FFF
        height = int.from_bytes(head[28:30], "little") & 0x3FFF
        return width, height
    return None


# --- entities of incoming text --------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (astral characters count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_.\-]{1,32})?(?![^\s])")
_MENTION = re.compile(r"(?<![\w@./+\\])@[A-Za-z0-9][A-Za-z0-9._\-]{0,31}(?<![.\-])(?![\w@])")


def message_entities(text: str) -> list[dict[str, Any]]:
    """``bot_command`` and ``mention`` entities, in order, offsets in UTF-16 units."""
    found: list[tuple[int, int, str]] = []
    for match in _COMMAND.finditer(text):
        found.append((match.start(), match.end(), "bot_command"))
    for match in _MENTION.finditer(text):
        found.append((match.start(), match.end(), "mention"))
    found.sort()
    out = []
    for start, end, kind in found:
        offset = utf16_len(text[:start])
        out.append({"type": kind, "offset": offset, "length": utf16_len(text[start:end])})
    return out


# --- parse modes ----------------------------------------------------------------------


class EntityParseError(ValueError):
    """Text in a parse mode that doesn't parse; the message is Telegram's wording."""


@dataclass
class _Node:
    kind: str
    """text, bold, italic, underline, strike, spoiler, code, pre, link, quote."""
    text: str = ""
    url: str | None = None
    children: list[_Node] = field(default_factory=list)


# Every ASCII character CommonMark (with tables and strikethrough) gives a meaning to,
# escaped wherever it appears in plain text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#+\-.!|~&=()])")


def escape_markdown(text: str) -> str:
    """Text shown as is by Redoubt's markdown renderer."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def render_text(text: str, parse_mode: str | None) -> str:
    """A bot's message text as Redoubt markdown.

    Raises:
        EntityParseError: the text doesn't parse in ``parse_mode``, or the mode is
            unknown.
    """
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return escape_markdown(text)
    if mode == "html":
        nodes = _parse_html(text)
    elif mode == "markdownv2":
        nodes = _MarkdownParser(text, legacy=False).parse()
    elif mode == "markdown":
        nodes = _MarkdownParser(text, legacy=True).parse()
    else:
        raise EntityParseError("unsupported parse_mode")
    return _render(nodes).strip("\n")


def _safe_url(url: str) -> str | None:
    """An absolute http(s) URL, made safe inside ``(...)``; None for anything else."""
    url = url.strip()
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    for raw, quoted in (("\\", "%5C"), (" ", "%20"), ("(", "%28"), (")", "%29")):
        url = url.replace(raw, quoted)
    return url.replace("<", "%3C").replace(">", "%3E")


def _wrap(inner: str, marker: str) -> str:
    """``inner`` between emphasis markers, with edge whitespace moved outside them
    (CommonMark ignores ``** x**``)."""
    core = inner.strip()
    if not core:
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()) :]
    return f"{lead}{marker}{core}{marker}{trail}"


def _code_span(text: str) -> str:
    text = text.replace("\n", " ")
    if not text:
        return ""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_block(text: str, language: str | None) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    info = language if language and re.fullmatch(r"[A-Za-z0-9_+\-#.]{1,32}", language) else ""
    return f"\n{fence}{info}\n{text.rstrip(chr(10))}\n{fence}\n"


def _render(nodes: Sequence[_Node], *, in_link: bool = False) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node.kind
        if kind == "text":
            out.append(escape_markdown(node.text))
        elif kind == "code":
            out.append(_code_span(node.text))
        elif kind == "pre":
            out.append(_code_block(node.text, node.url))
        else:
            inner = _render(node.children, in_link=in_link or kind == "link")
            if kind == "bold":
                out.append(_wrap(inner, "**"))
            elif kind == "italic":
                out.append(_wrap(inner, "*"))
            elif kind == "strike":
                out.append(_wrap(inner, "~~"))
            elif kind == "link":
                url = None if in_link or node.url is None else _safe_url(node.url)
                out.append(f"[{inner}]({url})" if url and inner.strip() else inner)
            elif kind == "quote":
                lines = inner.strip("\n").split("\n")
                out.append("\n" + "\n".join(f"> {line}" for line in lines) + "\n\n")
            else:  # underline, spoiler, custom emoji: no markdown for them, text stays
                out.append(inner)
    return "".join(out)


# --- HTML -----------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strike",
    "strike": "strike",
    "del": "strike",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "link",
    "code": "code",
    "pre": "pre",
    "blockquote": "quote",
    "tg-emoji": "emoji",
}


class _HtmlParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self.stack: list[tuple[str, _Node]] = [("", self.root)]

    def _top(self) -> _Node:
        return self.stack[-1][1]

    @override
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = _HTML_TAGS.get(tag)
        values = {name: value or "" for name, value in attrs}
        if kind is None or (tag == "span" and values.get("class") != "tg-spoiler"):
            raise EntityParseError(f'Unsupported start tag "{tag}"')
        parent = self._top()
        if parent.kind in ("code", "pre"):
            if tag == "code" and parent.kind == "pre":
                language = values.get("class", "")
                if language.startswith("language-"):
                    parent.url = language.removeprefix("language-")
            node = _Node("ignored")  # markup inside code is text
            self.stack.append((tag, node))
            return
        node = _Node(kind, url=values.get("href") if kind == "link" else None)
        parent.children.append(node)
        self.stack.append((tag, node))

    @override
    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise EntityParseError(f'Unsupported start tag "{tag}"')

    @override
    def handle_endtag(self, tag: str) -> None:
        if len(self.stack) == 1 or self.stack[-1][0] != tag:
            raise EntityParseError(f'Unexpected end tag "{tag}"')
        self.stack.pop()

    @override
    def handle_data(self, data: str) -> None:
        for _tag, node in reversed(self.stack):
            if node.kind in ("code", "pre"):
                node.text += data
                return
            if node.kind != "ignored":
                break
        self._top().children.append(_Node("text", text=data))

    @override
    def handle_comment(self, data: str) -> None:
        raise EntityParseError("Unsupported HTML markup")

    @override
    def handle_decl(self, decl: str) -> None:
        raise EntityParseError("Unsupported HTML markup")

    @override
    def handle_pi(self, data: str) -> None:
        raise EntityParseError("Unsupported HTML markup")

    @override
    def unknown_decl(self, data: str) -> None:
        raise EntityParseError("Unsupported HTML markup")


def _parse_html(text: str) -> list[_Node]:
    # Telegram knows four named entities (and every numeric one); others stay text.
    text = re.sub(r"&(?!(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});)", "&amp;", text)
    parser = _HtmlParser()
    try:
        parser.feed(text)
        parser.close()
    except EntityParseError as exc:
        raise EntityParseError(f"Can't parse entities: {exc}") from None
    except (ValueError, AssertionError):  # pragma: no cover - the parser's own refusals
        raise EntityParseError("Can't parse entities: invalid markup") from None
    if len(parser.stack) > 1:
        tag = parser.stack[-1][0]
        raise EntityParseError(
            f"Can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
        )
    return parser.root.children


# --- MarkdownV2 and legacy Markdown ---------------------------------------------------

_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_V2_STYLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strike", "||": "spoiler"}
_LEGACY_STYLES = {"*": "bold", "_": "italic"}


class _MarkdownParser:
    def __init__(self, text: str, *, legacy: bool) -> None:
        self.text = text
        self.legacy = legacy
        self.pos = 0
        self.root = _Node("root")
        self.stack: list[tuple[str, _Node]] = [("", self.root)]

    def _fail(self, why: str) -> EntityParseError:
        offset = len(self.text[: self.pos].encode("utf-8"))
        return EntityParseError(f"Can't parse entities: {why} at byte offset {offset}")

    def _add_text(self, chars: str) -> None:
        children = self.stack[-1][1].children
        if children and children[-1].kind == "text":
            children[-1].text += chars
        else:
            children.append(_Node("text", text=chars))

    def _toggle(self, marker: str, kind: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index][0] == marker:
                if index != len(self.stack) - 1:
                    raise self._fail(f"Can't find end of {self.stack[-1][1].kind} entity")
                self.stack.pop()
                return
        node = _Node(kind)
        self.stack[-1][1].children.append(node)
        self.stack.append((marker, node))

    def _until(self, closer: str, *, escapes: str) -> str:
        """Text up to the next unescaped ``closer`` (consumed); only ``escapes`` and
        backslash may be escaped inside."""
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            if text.startswith(closer, self.pos):
                self.pos += len(closer)
                return "".join(out)
            ch = text[self.pos]
            if ch == "\\" and not self.legacy and self.pos + 1 < len(text):
                nxt = text[self.pos + 1]
                if nxt in escapes or nxt == "\\":
                    out.append(nxt)
                    self.pos += 2
                    continue
            out.append(ch)
            self.pos += 1
        raise self._fail(f'Can\'t find end of the entity starting with "{closer}"')

    def _link(self, *, emoji: bool) -> None:
        node = _Node("emoji" if emoji else "link")
        self.stack[-1][1].children.append(node)
        self.stack.append(("]", node))

    def _close_link(self) -> None:
        text = self.text
        _marker, node = self.stack.pop()
        if not text.startswith("(", self.pos):
            if self.legacy:  # "[x]" without a URL is text in legacy Markdown
                node.kind = "link"
                return
            raise self._fail("Character ']' is reserved and must be escaped")
        self.pos += 1
        node.url = self._until(")", escapes=")")

    def parse(self) -> list[_Node]:  # noqa: PLR0912, PLR0915 - one scanner, kept in one place
        text = self.text
        styles = _LEGACY_STYLES if self.legacy else _V2_STYLES
        at_line_start = True
        while self.pos < len(text):
            ch = text[self.pos]
            top_marker, top = self.stack[-1]
            if ch == "\\" and self.pos + 1 < len(text):
                nxt = text[self.pos + 1]
                if (self.legacy and nxt in "_*`[") or (not self.legacy and ord(nxt) < 127):
                    self._add_text(nxt)
                    self.pos += 2
                    at_line_start = False
                    continue
            if ch == "\n":
                self.pos += 1
                if top.kind == "quote" and not text.startswith(">", self.pos):
                    self.stack.pop()
                    self.stack[-1][1].children.append(_Node("text", text="\n"))
                else:
                    self._add_text("\n")
                    if top.kind == "quote":
                        self.pos += 1
                at_line_start = True
                continue
            if not self.legacy and ch == ">" and at_line_start:
                self.pos += 1
                if top.kind != "quote":
                    node = _Node("quote")
                    top.children.append(node)
                    self.stack.append((">", node))
                at_line_start = False
                continue
            at_line_start = False
            if text.startswith("```", self.pos):
                self.pos += 3
                body = self._until("```", escapes="`")
                language, newline, rest = body.partition("\n")
                if newline and re.fullmatch(r"[A-Za-z0-9_+\-#.]{1,32}", language):
                    top.children.append(_Node("pre", text=rest, url=language))
                else:
                    top.children.append(_Node("pre", text=body))
                continue
            if ch == "`":
                self.pos += 1
                top.children.append(_Node("code", text=self._until("`", escapes="`")))
                continue
            if ch == "]" and top_marker == "]":
                self.pos += 1
                self._close_link()
                continue
            if ch == "[" and top_marker != "]":
                self.pos += 1
                self._link(emoji=False)
                continue
            if not self.legacy and text.startswith("![", self.pos) and top_marker != "]":
                self.pos += 2
                self._link(emoji=True)
                continue
            marker = next(
                (m for m in sorted(styles, key=len, reverse=True) if text.startswith(m, self.pos)),
                None,
            )
            if marker is not None:
                self.pos += len(marker)
                self._toggle(marker, styles[marker])
                continue
            if not self.legacy and ch in _V2_RESERVED:
                raise self._fail(f"Character '{ch}' is reserved and must be escaped with '\\'")
            self._add_text(ch)
            self.pos += 1
        while self.stack[-1][1].kind == "quote":
            self.stack.pop()
        if len(self.stack) > 1:
            raise self._fail(f"Can't find end of {self.stack[-1][1].kind} entity")
        return self.root.children
