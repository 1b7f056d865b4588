"""redoubt_bot: write Redoubt bots with secure defaults.

Handlers are denied by default (``allow=`` is required), callback data is opaque,
user-bound and expiring, errors reach the chat only as an incident id, persistence is
JSON or SQLite (never pickle), and the token stays out of URLs and logs.
"""

from redoubt_bot import filters
from redoubt_bot.access import Policy, everyone, roles, rooms, users
from redoubt_bot.application import Application, ApplicationBuilder, ErrorHandler
from redoubt_bot.callbacks import CallbackStatus
from redoubt_bot.client import ApiClient, ApiConnectionError, ApiError, BotApi
from redoubt_bot.context import Context
from redoubt_bot.conversation import END, ConversationHandler
from redoubt_bot.errors import AccessPolicyMissing, BotError, StopPropagation
from redoubt_bot.handlers import (
    CallbackHandler,
    CommandHandler,
    Handler,
    MemberHandler,
    MessageHandler,
    ReactionHandler,
)
from redoubt_bot.jobs import Job, JobQueue
from redoubt_bot.persistence import (
    JsonPersistence,
    MemoryPersistence,
    Persistence,
    PersistenceError,
    SqlitePersistence,
)
from redoubt_bot.secrets import BotToken, TokenError, install_redaction
from redoubt_bot.stream import EventStream, StreamError, StreamUnauthorized
from redoubt_bot.types import (
    Button,
    CallbackQuery,
    MemberChange,
    Message,
    Reaction,
    RoomKind,
    Update,
    UpdateKind,
)

__all__ = [
    "END",
    "AccessPolicyMissing",
    "ApiClient",
    "ApiConnectionError",
    "ApiError",
    "Application",
    "ApplicationBuilder",
    "BotApi",
    "BotError",
    "BotToken",
    "Button",
    "CallbackHandler",
    "CallbackQuery",
    "CallbackStatus",
    "CommandHandler",
    "Context",
    "ConversationHandler",
    "ErrorHandler",
    "EventStream",
    "Handler",
    "Job",
    "JobQueue",
    "JsonPersistence",
    "MemberChange",
    "MemberHandler",
    "MemoryPersistence",
    "Message",
    "MessageHandler",
    "Persistence",
    "PersistenceError",
    "Policy",
    "Reaction",
    "ReactionHandler",
    "RoomKind",
    "SqlitePersistence",
    "StopPropagation",
    "StreamError",
    "StreamUnauthorized",
    "TokenError",
    "Update",
    "UpdateKind",
    "everyone",
    "filters",
    "install_redaction",
    "roles",
    "rooms",
    "users",
]
