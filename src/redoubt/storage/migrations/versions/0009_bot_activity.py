"""Bot activity: token scopes of bots, and their hourly activity (the baselines)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scopes",
                sa.Text(),
                nullable=False,
                server_default='["messages:read","messages:write"]',
            )
        )
    op.create_table(
        "bot_activity",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posts", sa.Integer(), nullable=False),
        sa.Column("peak_posts_per_minute", sa.Integer(), nullable=False),
        sa.Column("peak_rooms_per_minute", sa.Integer(), nullable=False),
        sa.Column("mentions", sa.Integer(), nullable=False),
        sa.Column("history_pages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["users.id"], name=op.f("fk_bot_activity_bot_id_users")
        ),
        sa.PrimaryKeyConstraint("bot_id", "hour", name=op.f("pk_bot_activity")),
    )


def downgrade() -> None:
    op.drop_table("bot_activity")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_column("scopes")
