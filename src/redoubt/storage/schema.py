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
from sqlalchemy.engine import Dialect
from typing_extensions import override

__all__ = [
    "UTCDateTime",
    "audit_log",
    "events",
    "files",
    "memberships",
    "mentions",
    "message_edits",
    "messages",
    "metadata",
    "reactions",
    "rooms",
    "sessions",
    "stream_position",
    "users",
]

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
