"""What happens when a handler fails: an incident id, the detail in the log, a generic
reply in the chat.

The chat never sees the exception, its message, a traceback or any configuration value:
only ``Something went wrong (incident <id>).``. The same id is in the log record (which
the token redaction filter scrubs) and in ``context.incident_id`` for error handlers, so
an operator can find the detail from what a user reports.
"""

from __future__ import annotations

import logging
import secrets
from typing import Final

__all__ = [
    "GENERIC_ERROR_TEXT",
    "AccessPolicyMissing",
    "BotError",
    "StopPropagation",
    "generic_error_text",
    "logger",
    "new_incident_id",
]

logger: Final = logging.getLogger("redoubt_bot")

GENERIC_ERROR_TEXT: Final = "Something went wrong (incident {incident_id})."


class BotError(Exception):
    """Base class of the framework's own errors."""


class AccessPolicyMissing(BotError, ValueError):
    """A handler was registered without ``allow=``: handlers are denied by default."""


class StopPropagation(Exception):
    """Raise from a handler to stop the update reaching later handler groups."""


def new_incident_id() -> str:
    """A short random id that ties a user's report to the log record."""
    return secrets.token_hex(6)


def generic_error_text(incident_id: str) -> str:
    return GENERIC_ERROR_TEXT.format(incident_id=incident_id)
