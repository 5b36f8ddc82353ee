"""escalation ladders

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "next_fire_level",
                sa.String(length=140),
                nullable=True,
                comment="The ladder level that fires next, when next_fire_kind is ladder.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "ladder",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default=sa.text("'{}'"),
                comment="Per ladder level: its state and how often it fired.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_column("ladder")
        batch_op.drop_column("next_fire_level")
