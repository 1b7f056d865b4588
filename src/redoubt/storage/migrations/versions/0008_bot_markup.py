"""Bot markup: inline and reply keyboards on messages, and inline button callbacks

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inline_keyboard", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reply_keyboard", sa.Text(), nullable=True))
    op.create_table(
        "bot_callbacks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["users.id"], name=op.f("fk_bot_callbacks_bot_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_bot_callbacks_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bot_callbacks_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_callbacks")),
    )
    with op.batch_alter_table("bot_callbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bot_callbacks_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bot_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bot_callbacks_message_id"))
    op.drop_table("bot_callbacks")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("reply_keyboard")
        batch_op.drop_column("inline_keyboard")
