"""Structured JSON logs that pass through one redaction step.

Every record (ours, uvicorn's, SQLAlchemy's) is rendered by structlog and passes
:func:`redact_event` first: values under secret-looking keys are replaced, and anything
shaped like one of our tokens (or a bearer header, or a Telegram-style bot token) is
masked wherever it appears in a string, including inside tracebacks and URL paths.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

__all__ = [
    "REDACTED",
    "configure_logging",
    "describe_error",
    "get_logger",
    "redact_event",
    "redact_text",
]

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential|private", re.I
)
_SECRET_VALUE = re.compile(
    r"rdt_[a-z]{2,8}_[A-Za-z0-9_\-]{16,}"  # our own token family
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]+=*"  # Authorization header values
    # Telegram-shaped bot tokens, also glued to a path as in /bot<token>/getMe (where a
    # \b would not match between "bot" and the digits).
    r"|(?<![0-9])\d{1,16}:[A-Za-z0-9_\-]{30,}"
    # Credentials inside URLs, including a password without a user (redis://:pw@host).
    r"|(?<=://)[^/\s:@]*:[^/\s@]+(?=@)"
)


def redact_text(text: str) -> str:
    """Mask every token-shaped substring of ``text``."""
    return _SECRET_VALUE.sub(REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the last step before rendering."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def configure_logging(level: str = "info", *, json: bool = True) -> None:
    """Route structlog and stdlib logging through one redacting JSON renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access log replaces uvicorn's (which would print query strings).
    logging.getLogger("uvicorn.access").disabled = True
    # aiosqlite logs every call with its SQL parameters at DEBUG: message texts, and a
    # password whenever someone types one into the username field. Never below INFO.
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))
    # httpx logs every request's full URL at INFO; outbound URLs carry webhook secrets
    # (core/egress.py logs host and port itself).
    logging.getLogger("httpx").setLevel(max(root.level, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for a log field. redis-py's exception repr hides the message
    ("network:ConnectionError"); the redaction processor still runs over the result."""
    return f"{type(exc).__name__}: {exc}"
