"""The relational schema, shared by SQLite and PostgreSQL.

Tables are SQLAlchemy Core ``Table`` objects rather than ORM classes: the hot paths
(posting, fan-out, history) run plain Core statements and map rows to frozen records,
which costs a fraction of the ORM's unit-of-work (see docs/adr/0002-core-not-orm.md).
Alembic migrations in ``storage/migrations`` are the source of truth for the database;
``tests/test_migrations.py`` checks this module matches them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.engine import Dialect
from typing_extensions import override

__all__ = [
    "UTCDateTime",
    "audit_log",
    "bot_activity",
    "bot_callbacks",
    "bot_webhooks",
    "bots",
    "events",
    "files",
    "memberships",
    "mentions",
    "message_edits",
    "messages",
    "metadata",
    "reactions",
    "rooms",
    "server_settings",
    "sessions",
    "stream_position",
    "users",
]

DEFAULT_BOT_SCOPES_JSON = '["messages:read","messages:write"]'

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @override
    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    @override
    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _ts(name: str, *, nullable: bool = False) -> Column[dt.datetime]:
    return Column(name, UTCDateTime(), nullable=nullable)


users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=True),
    Column("is_active", Boolean, nullable=False, default=True),
    _ts("created_at"),
    # Where the password is checked: "local" (password_hash) or "ldap" (the directory;
    # password_hash stays NULL, no copy of a directory password is ever kept).
    Column("auth_source", String(16), nullable=False, default="local", server_default="local"),
    # The directory's immutable id (entryUUID / objectGUID) for "ldap" accounts: the
    # link survives renames, and a recycled username doesn't inherit the account.
    Column("external_id", String(128), nullable=True, unique=True),
    # Where password reset links go (lower-cased, see domain/emails.py); NULL: no reset
    # by mail. Unique among the accounts that have one (NULLs don't collide).
    Column("email", String(254), nullable=True, unique=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    _ts("created_at"),
    _ts("last_seen_at"),
    _ts("expires_at"),
    Column("user_agent", String(256), nullable=False, default=""),
    Column("ip", String(64), nullable=False, default=""),
    # A session of a user whose role requires a second factor they haven't set up:
    # it may enrol and nothing else.
    Column("enrol_only", Boolean, nullable=False, default=False, server_default=sa_false()),
)

# --- second factor, login challenges, notices, password resets (issue 4) -------------

totp_credentials = Table(
    "totp_credentials",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    # AES-GCM ciphertext (nonce first) of the base32 secret, bound to the user id.
    Column("secret_enc", LargeBinary(128), nullable=False),
    _ts("created_at"),
    # NULL until the user proves the authenticator works with a first code.
    _ts("confirmed_at", nullable=True),
    # The highest TOTP time step accepted: a code is good once (no replay in its window).
    Column("last_counter", BigInteger, nullable=False, default=0),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    # HMAC-SHA256 (keyed with the server secret) of the normalised code: a leaked
    # database alone can't be searched for the codes.
    Column("code_hash", LargeBinary(32), nullable=False, unique=True),
    _ts("created_at"),
    _ts("used_at", nullable=True),
)

login_challenges = Table(
    "login_challenges",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    # SHA-256 of the challenge token handed out after the password step.
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    _ts("created_at"),
    _ts("expires_at"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("ip", String(64), nullable=False, default=""),
    Column("user_agent", String(256), nullable=False, default=""),
)

known_devices = Table(
    "known_devices",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    # HMAC of (browser family, address): enough to say "new device", nothing to replay.
    Column("device_key", LargeBinary(32), primary_key=True),
    _ts("first_seen_at"),
    _ts("last_seen_at"),
)

security_notices = Table(
    "security_notices",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("details", Text, nullable=False, default="{}"),
    _ts("created_at"),
    _ts("read_at", nullable=True),
)

password_resets = Table(
    "password_resets",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    # Fingerprint of the password hash when the reset was asked for: any password
    # change since (including another reset) voids the token.
    Column("password_fingerprint", LargeBinary(32), nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("used_at", nullable=True),
)

rooms = Table(
    "rooms",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    # Lower-cased name of channels and private groups (unique); NULL for DMs.
    Column("name", String(64), nullable=True, unique=True),
    Column("topic", String(512), nullable=False, default=""),
    Column("archived", Boolean, nullable=False, default=False),
    # Sorted member ids of a DM, so that "open the DM with these people" is one lookup.
    Column("dm_key", String(512), nullable=True, unique=True),
    Column("created_by", BigInteger, ForeignKey("users.id"), nullable=False),
    _ts("created_at"),
    Column("last_position", BigInteger, nullable=False, default=0),
)

memberships = Table(
    "memberships",
    metadata,
    Column("room_id", BigInteger, ForeignKey("rooms.id"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),
    _ts("joined_at"),
    Column("last_read_position", BigInteger, nullable=False, default=0),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", BigInteger, ForeignKey("rooms.id"), nullable=False),
    Column("author_id", BigInteger, ForeignKey("users.id"), nullable=False),
    # Commit-ordered stream position of the message's creation; history sorts by it.
    Column("position", BigInteger, nullable=False),
    # "text" (markdown) or "encrypted" (opaque payload; see E2EE issue).
    Column("content_type", String(16), nullable=False, default="text"),
    Column("text", Text, nullable=False, default=""),
    Column("thread_id", BigInteger, ForeignKey("messages.id"), nullable=True),
    Column("reply_count", Integer, nullable=False, default=0),
    Column("mentions_room", Boolean, nullable=False, default=False),
    Column("client_id", String(64), nullable=True),
    # Structured parts beside the text (JSON): webhook attachments (title, text, fields,
    # colour, link). Rendered as text by clients, like the message text.
    Column("attachments", Text, nullable=True),
    # Bot markup (JSON): the inline keyboard with each button's callback_data (which never
    # leaves the server to clients) and the reply keyboard / ForceReply / remove request.
    Column("inline_keyboard", Text, nullable=True),
    Column("reply_keyboard", Text, nullable=True),
    _ts("created_at"),
    _ts("edited_at", nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    _ts("pinned_at", nullable=True),
    Column("pinned_by", BigInteger, ForeignKey("users.id"), nullable=True),
    Index("ix_messages_room_position", "room_id", "position", unique=True),
    Index("ix_messages_thread", "thread_id", "position"),
    UniqueConstraint("author_id", "client_id", name="uq_messages_author_client"),
)

message_edits = Table(
    "message_edits",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, ForeignKey("messages.id"), nullable=False, index=True),
    Column("editor_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("previous_text", Text, nullable=False),
    _ts("edited_at"),
)

reactions = Table(
    "reactions",
    metadata,
    Column("message_id", BigInteger, ForeignKey("messages.id"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True),
    Column("emoji", String(64), primary_key=True),
    _ts("created_at"),
)

mentions = Table(
    "mentions",
    metadata,
    Column("message_id", BigInteger, ForeignKey("messages.id"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True),
    Column("room_id", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_mentions_user_room_position", "user_id", "room_id", "position"),
)

files = Table(
    "files",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", BigInteger, ForeignKey("rooms.id"), nullable=False, index=True),
    Column("uploader_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("message_id", BigInteger, ForeignKey("messages.id"), nullable=True, index=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    _ts("created_at"),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(64), nullable=False),
    # Audience: members of room_id, and/or user_id, or everyone when broadcast.
    Column("room_id", BigInteger, nullable=True, index=True),
    Column("user_id", BigInteger, nullable=True, index=True),
    Column("broadcast", Boolean, nullable=False, default=False),
    # The serialised client frame, built once at write time.
    Column("frame", Text, nullable=False),
    _ts("created_at"),
)

# One row (id = 1): the deployment-wide event position. Incrementing it inside the
# writing transaction serialises event-producing commits, so position order is commit
# order on PostgreSQL too, and positions have no gaps.
stream_position = Table(
    "stream_position",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
)

# Deployment-wide settings admins change at run time (key → JSON value). A row only
# exists once an admin has set that key; until then the deployment config applies.
# Read inside the transaction that depends on it (no process-local cache), so every
# process of a scaled-out deployment sees the same value.
server_settings = Table(
    "server_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    _ts("updated_at"),
    # The admin who last changed it (None: the CLI). No foreign key: like the audit
    # log's actor, it records who acted, not a relation to keep consistent.
    Column("updated_by", BigInteger, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    _ts("at"),
    Column("actor_id", BigInteger, nullable=True, index=True),
    Column("action", String(64), nullable=False, index=True),
    Column("target_type", String(32), nullable=False),
    Column("target_id", BigInteger, nullable=True),
    Column("ip", String(64), nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),
)

# --- integrations: API tokens, webhooks ------------------------------------------------

# Personal access tokens (kind "pat"), and the bot tokens of the bot platform. Only the
# SHA-256 of a token is stored; ``hint`` is a few characters of it for lists ("which one
# is this?"), never enough to guess from. JSON lists: ``scopes`` (Scope values),
# ``room_ids`` (None: every room the owner may use), ``networks`` (CIDRs, None: any).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("kind", String(8), nullable=False),
    Column("name", String(64), nullable=False),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    # "rdt_pat_AbCd…", or for a bot token "<bot id>:AbCd…" (up to 22 characters).
    Column("hint", String(32), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("room_ids", Text, nullable=True),
    Column("networks", Text, nullable=True),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("revoked_at", nullable=True),
    # Rotation: the successor's id; the old token lives on until ``expires_at``, which
    # rotation shortens to the end of the grace period.
    Column("replaced_by", BigInteger, nullable=True),
    _ts("last_used_at", nullable=True),
    Column("last_used_ip", String(64), nullable=False, default=""),
    # When the last "request rate far above its history" alert went out (one a day).
    _ts("rate_alert_at", nullable=True),
)

# What each token did: request counts per hour, address range (/24, /48) and operation
# ("POST /api/v1/rooms/{room_id}/messages"). Counted in memory, flushed in batches.
api_token_usage = Table(
    "api_token_usage",
    metadata,
    Column("token_id", BigInteger, ForeignKey("api_tokens.id"), primary_key=True),
    Column("hour", UTCDateTime(), primary_key=True),
    Column("network", String(64), primary_key=True),
    Column("operation", String(128), primary_key=True),
    Column("requests", Integer, nullable=False),
)

# Incoming webhooks: each posts into one room as its own user (role "bot", no login).
# The signing secret is sealed under the server key (HMAC needs it in the clear); the
# optional legacy URL token (senders that can only put a secret in the URL) is hashed.
incoming_hooks = Table(
    "incoming_hooks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("room_id", BigInteger, ForeignKey("rooms.id"), nullable=False, index=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("avatar_url", String(512), nullable=False, default=""),
    Column("secret_enc", LargeBinary(256), nullable=False),
    Column("legacy_token_hash", LargeBinary(32), nullable=True, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_by", BigInteger, ForeignKey("users.id"), nullable=False),
    _ts("created_at"),
    _ts("last_used_at", nullable=True),
)

# Replay protection for signed incoming requests: the signature of each accepted
# request, inserted in the transaction that posts its message (a replay hits the key).
hook_nonces = Table(
    "hook_nonces",
    metadata,
    Column("hook_id", BigInteger, ForeignKey("incoming_hooks.id"), primary_key=True),
    Column("digest", LargeBinary(32), primary_key=True),
    _ts("expires_at"),
    Index("ix_hook_nonces_expires_at", "expires_at"),
)

# Outgoing webhooks: events in chosen rooms, POSTed (signed) to ``url`` through the
# egress guard. ``events``/``trigger_words``: JSON lists.
outgoing_hooks = Table(
    "outgoing_hooks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret_enc", LargeBinary(256), nullable=False),
    Column("events", Text, nullable=False),
    Column("trigger_words", Text, nullable=False, default="[]"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", String(256), nullable=False, default=""),
    _ts("created_at"),
)

outgoing_hook_rooms = Table(
    "outgoing_hook_rooms",
    metadata,
    Column("room_id", BigInteger, ForeignKey("rooms.id"), primary_key=True),
    Column("hook_id", BigInteger, ForeignKey("outgoing_hooks.id"), primary_key=True, index=True),
)

# The outbox: one row per (hook, event), written in the transaction of the event, sent
# by the delivery worker (at least once; ``id`` is the stable delivery id receivers
# de-duplicate on). ``locked_until`` is a claim lease, so a worker that dies mid-send
# leaves the row to be retried after it runs out.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("hook_id", BigInteger, ForeignKey("outgoing_hooks.id"), nullable=False, index=True),
    Column("event", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    _ts("created_at"),
    _ts("next_attempt_at"),
    _ts("locked_until", nullable=True),
    _ts("delivered_at", nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(256), nullable=False, default=""),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

# Bot accounts: a user with role "bot" plus this row. Its tokens live in api_tokens
# (kind "bot", "<user id>:<secret>"); ``room_ids`` (JSON list) are the rooms it may be
# added to, and nothing else. ``commands`` is the JSON of setMyCommands;
# ``updates_offset`` the last getUpdates offset the bot confirmed (an event position).
bots = Table(
    "bots",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("description", String(512), nullable=False, default=""),
    Column("room_ids", Text, nullable=False, default="[]"),
    Column("commands", Text, nullable=False, default="[]"),
    Column("updates_offset", BigInteger, nullable=False, default=0),
    _ts("created_at"),
    _ts("quarantined_at", nullable=True),
    Column("quarantine_reason", String(256), nullable=False, default=""),
    # The scopes its token grants on the native REST API (JSON list; never "admin").
    Column(
        "scopes",
        Text,
        nullable=False,
        default=DEFAULT_BOT_SCOPES_JSON,
        server_default=DEFAULT_BOT_SCOPES_JSON,
    ),
)

# What each bot did, hour by hour: the baselines its activity is compared with
# (actions/bot_activity.py flushes in-memory counters here every few seconds).
bot_activity = Table(
    "bot_activity",
    metadata,
    Column("bot_id", BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("hour", UTCDateTime(), primary_key=True),
    Column("posts", Integer, nullable=False, default=0),
    Column("peak_posts_per_minute", Integer, nullable=False, default=0),
    Column("peak_rooms_per_minute", Integer, nullable=False, default=0),
    Column("mentions", Integer, nullable=False, default=0),
    Column("history_pages", Integer, nullable=False, default=0),
)

# A bot's webhook (setWebhook): its updates are POSTed to ``url`` instead of being
# fetched with getUpdates. ``secret_enc`` is the AES-GCM ciphertext of the
# secret_token, bound to ``bot_webhook:<bot id>``. One process at a time delivers a
# bot's updates: the one whose ``lease_owner`` holds an unexpired ``locked_until``
# (claimed in one UPDATE). ``failures`` counts consecutive failed attempts; the next
# waits until ``next_attempt_at``.
bot_webhooks = Table(
    "bot_webhooks",
    metadata,
    Column("bot_id", BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("url", Text, nullable=False),
    Column("secret_enc", LargeBinary(512), nullable=False),
    Column("max_connections", Integer, nullable=False, default=40),
    # JSON list of update kinds; "" means every kind.
    Column("allowed_updates", Text, nullable=False, default=""),
    _ts("created_at"),
    Column("failures", Integer, nullable=False, default=0),
    _ts("next_attempt_at"),
    _ts("locked_until", nullable=True),
    Column("lease_owner", String(64), nullable=False, default=""),
    _ts("last_error_at", nullable=True),
    Column("last_error", String(256), nullable=False, default=""),
)

# A click on an inline keyboard button: ``id`` is the opaque callback_query id the bot
# answers with answerCallbackQuery (once); ``data`` the button's callback_data.
bot_callbacks = Table(
    "bot_callbacks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("messages.id"), nullable=False, index=True),
    Column("bot_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("data", String(64), nullable=False),
    _ts("created_at"),
    _ts("answered_at", nullable=True),
)
