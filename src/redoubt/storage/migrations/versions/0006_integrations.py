"""Integrations: API tokens and their usage, incoming and outgoing webhooks, the
webhook outbox, and structured message attachments

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("room_ids", sa.Text(), nullable=True),
        sa.Column("networks", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_ip", sa.String(length=64), nullable=False),
        sa.Column("rate_alert_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "outgoing_hooks",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(length=256), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("trigger_words", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_outgoing_hooks_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_hooks")),
    )
    with op.batch_alter_table("outgoing_hooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outgoing_hooks_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "api_token_usage",
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=128), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_api_token_usage_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint(
            "token_id", "hour", "network", "operation", name=op.f("pk_api_token_usage")
        ),
    )
    op.create_table(
        "incoming_hooks",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("avatar_url", sa.String(length=512), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(length=256), nullable=False),
        sa.Column("legacy_token_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_incoming_hooks_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_incoming_hooks_room_id_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_incoming_hooks_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incoming_hooks")),
        sa.UniqueConstraint("legacy_token_hash", name=op.f("uq_incoming_hooks_legacy_token_hash")),
    )
    with op.batch_alter_table("incoming_hooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incoming_hooks_room_id"), ["room_id"], unique=False)

    op.create_table(
        "outgoing_hook_rooms",
        sa.Column("room_id", sa.BigInteger(), nullable=False),
        sa.Column("hook_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hook_id"],
            ["outgoing_hooks.id"],
            name=op.f("fk_outgoing_hook_rooms_hook_id_outgoing_hooks"),
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_outgoing_hook_rooms_room_id_rooms")
        ),
        sa.PrimaryKeyConstraint("room_id", "hook_id", name=op.f("pk_outgoing_hook_rooms")),
    )
    with op.batch_alter_table("outgoing_hook_rooms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outgoing_hook_rooms_hook_id"), ["hook_id"], unique=False
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hook_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["hook_id"],
            ["outgoing_hooks.id"],
            name=op.f("fk_webhook_deliveries_hook_id_outgoing_hooks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_deliveries_hook_id"), ["hook_id"], unique=False
        )

    op.create_table(
        "hook_nonces",
        sa.Column("hook_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hook_id"], ["incoming_hooks.id"], name=op.f("fk_hook_nonces_hook_id_incoming_hooks")
        ),
        sa.PrimaryKeyConstraint("hook_id", "digest", name=op.f("pk_hook_nonces")),
    )
    with op.batch_alter_table("hook_nonces", schema=None) as batch_op:
        batch_op.create_index("ix_hook_nonces_expires_at", ["expires_at"], unique=False)

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachments", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("attachments")

    with op.batch_alter_table("hook_nonces", schema=None) as batch_op:
        batch_op.drop_index("ix_hook_nonces_expires_at")

    op.drop_table("hook_nonces")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_hook_id"))
        batch_op.drop_index("ix_webhook_deliveries_due")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("outgoing_hook_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_hook_rooms_hook_id"))

    op.drop_table("outgoing_hook_rooms")
    with op.batch_alter_table("incoming_hooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incoming_hooks_room_id"))

    op.drop_table("incoming_hooks")
    op.drop_table("api_token_usage")
    with op.batch_alter_table("outgoing_hooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_hooks_owner_id"))

    op.drop_table("outgoing_hooks")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
