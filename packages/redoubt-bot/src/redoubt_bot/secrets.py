"""The bot's token: a secret type that doesn't print itself, and a log filter that keeps
it (and anything shaped like a bot token) out of every log record.

Load the token from the environment (:meth:`BotToken.from_env`) or from a file only its
owner can read (:meth:`BotToken.from_file`). ``BotToken("...")`` with a literal works,
but logs a warning: a token in source code ends up in version control.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any, Final

from redoubt_bot._compat import override

__all__ = [
    "TOKEN_PATTERN",
    "BotToken",
    "TokenError",
    "TokenRedactor",
    "install_redaction",
    "redact",
    "remove_redaction",
]

_log = logging.getLogger("redoubt_bot.secrets")

TOKEN_PATTERN: Final = re.compile(r"(\d+):[A-Za-z0-9_\-]{43}")
"""The shape of a Redoubt bot token, ``<bot id>:<43 url-safe characters>``."""
_TRUNCATED: Final = re.compile(r"(\d+):[A-Za-z0-9_\-]{6,}(?:\.\.\.|…)[A-Za-z0-9_\-]*")
"""A token cut short for display (``1234:AbCdEf...xyz``, as websockets logs frames)."""
_MASK: Final = "****"
_ENV_DEFAULT: Final = "REDOUBT_BOT_TOKEN"


class TokenError(ValueError):
    """The token could not be loaded. The message never contains the token."""


def _mask(value: str) -> str:
    bot_id, sep, _secret = value.partition(":")
    if sep and bot_id.isdigit():
        return f"{bot_id}:{_MASK}"
    return _MASK


class BotToken:
    """A bot token. ``repr``/``str`` show only the bot id (``BotToken('1234:****')``);
    :meth:`reveal` gives the secret, for the one place that sends it to the server."""

    __slots__ = ("_value",)

    _value: str

    def __init__(self, value: str, *, _source: str | None = None) -> None:
        value = _check(value)
        object.__setattr__(self, "_value", value)
        if _source is None:
            _log.warning(
                "The bot token was given as a literal; load it with "
                "BotToken.from_env(%r) or BotToken.from_file(path) so it stays out of "
                "source code",
                _ENV_DEFAULT,
            )

    @classmethod
    def from_env(cls, name: str = _ENV_DEFAULT) -> BotToken:
        """The token in environment variable ``name`` (surrounding whitespace removed).

        Raises:
            TokenError: the variable is unset, empty or not a single token.
        """
        raw = os.environ.get(name)
        if raw is None or not raw.strip():
            raise TokenError(f"Environment variable {name} is not set")
        return cls(raw.strip(), _source="env")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BotToken:
        """The token in the file at ``path`` (one trailing newline removed).

        The file must be readable by its owner only (``chmod 600``): a token in a
        group- or world-accessible file is refused, as ssh refuses such a private key.

        Raises:
            TokenError: unreadable file, permissions too open, or not a single token.
        """
        p = Path(path)
        try:
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise TokenError(f"Cannot read the token file {p}: {exc.strerror}") from None
        try:
            # fstat the open file: what we check is what we read (no swap in between).
            mode = os.fstat(fd).st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise TokenError(
                    f"The token file {p} is accessible by group or others "
                    f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {p}"
                )
            with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as f:
                raw = f.read(4096)
        finally:
            os.close(fd)
        if raw.endswith("\r\n"):
            raw = raw[:-2]
        elif raw.endswith("\n"):
            raw = raw[:-1]
        return cls(raw, _source="file")

    def reveal(self) -> str:
        """The secret itself. Send it in a header or a frame body, never in a URL or a
        log line."""
        return self._value

    @property
    def bot_id(self) -> str | None:
        """The bot's user id (the public part of the token), if it has the usual shape."""
        bot_id, sep, _ = self._value.partition(":")
        return bot_id if sep and bot_id.isdigit() else None

    @override
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("BotToken is immutable")

    @override
    def __repr__(self) -> str:
        return f"BotToken({_mask(self._value)!r})"

    @override
    def __str__(self) -> str:
        return _mask(self._value)

    @override
    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    @override
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BotToken):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    @override
    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode()).digest())

    @override
    def __reduce__(self) -> Any:
        raise TypeError("BotToken can't be serialised; store where it comes from, not it")


def _check(value: str) -> str:
    if not isinstance(value, str):
        raise TokenError("A bot token is a string")
    if not value:
        raise TokenError("The bot token is empty")
    if len(value) > 256:
        raise TokenError("The bot token is too long")
    if any(c.isspace() or not c.isprintable() for c in value):
        # A newline would end up in a header; two tokens in a file is a mistake.
        raise TokenError("The bot token contains whitespace or control characters")
    return value


# --- log redaction ----------------------------------------------------------------------


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every one of ``secrets`` and anything shaped like a bot token
    replaced by ``<bot id>:****``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _mask(secret))
    if ":" in text:
        text = TOKEN_PATTERN.sub(r"\1:" + _MASK, text)
        text = _TRUNCATED.sub(r"\1:" + _MASK, text)
    return text


_STANDARD_ATTRS: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_plain = logging.Formatter()


class TokenRedactor(logging.Filter):
    """Removes bot tokens from a log record: its message, its arguments, extra fields,
    the exception text and formatted traceback, and the stack info.

    Attach it to handlers (a filter on a logger only sees records logged on that very
    logger, not those propagating from its children): :func:`install_redaction` does.
    Never drops a record.
    """

    def __init__(self, *tokens: str | BotToken) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        for token in tokens:
            self.add(token)

    def add(self, token: str | BotToken) -> None:
        value = token.reveal() if isinstance(token, BotToken) else token
        if value and value not in self._secrets:
            self._secrets = (*self._secrets, value)

    def _text(self, text: str) -> str:
        return redact(text, self._secrets)

    def _value(self, value: object) -> object:
        if isinstance(value, str):
            return self._text(value)
        if value is None or isinstance(value, int | float | bool):
            return value
        try:
            text = str(value)
        except Exception:  # an object that can't render can't leak through rendering
            return value
        cleaned = self._text(text)
        return cleaned if cleaned != text else value

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        if isinstance(msg, str):
            record.msg = self._text(msg)
        elif isinstance(msg, dict):  # structlog's event dicts
            record.msg = {k: self._value(v) for k, v in msg.items()}
        else:
            record.msg = self._value(msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(self._value(a) for a in args)
        elif isinstance(args, dict):
            record.args = {k: self._value(v) for k, v in args.items()}
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                record.__dict__[key] = self._text(value)
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or _plain.formatException(record.exc_info)
            record.exc_text = self._text(text)
            # Handlers would format the exception again from exc_info, unredacted.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._text(record.stack_info)
        return True


_installed: list[TokenRedactor] = []
"""The shared filter, once made (a list: no ``global`` statement)."""


def install_redaction(token: str | BotToken | None = None) -> TokenRedactor:
    """Add the shared :class:`TokenRedactor` (knowing ``token``) to the root logger and
    to every handler the root logger has now. Idempotent: calling it again adds the
    token to the same filter, and attaches it to handlers added since."""
    if not _installed:
        _installed.append(TokenRedactor())
    _default = _installed[0]
    if token is not None:
        _default.add(token)
    root = logging.getLogger()
    if _default not in root.filters:
        root.addFilter(_default)
    for handler in root.handlers:
        if _default not in handler.filters:
            handler.addFilter(_default)
    return _default


def remove_redaction() -> None:
    """Detach the shared filter from the root logger and its handlers (tests)."""
    if not _installed:
        return
    _default = _installed.pop()
    root = logging.getLogger()
    root.removeFilter(_default)
    for handler in root.handlers:
        handler.removeFilter(_default)
