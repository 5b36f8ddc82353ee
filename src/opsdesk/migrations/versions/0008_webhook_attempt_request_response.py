"""webhook attempts keep the request body and the response headers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Attempts recorded before this revision keep null in all three columns.
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "request_body",
                sa.Text(),
                nullable=True,
                comment="The body as sent, cut to its first 16 KiB; null if none was built.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "request_body_bytes",
                sa.Integer(),
                nullable=True,
                comment="Size of the whole body in bytes, also when request_body holds only "
                "its start.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "response_headers",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
                comment="Response headers with secret-looking values masked.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_column("response_headers")
        batch_op.drop_column("request_body_bytes")
        batch_op.drop_column("request_body")
