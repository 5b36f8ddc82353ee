"""automation rules and wait timers

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opsdesk.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assignment_cursors",
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("team", name=op.f("pk_assignment_cursors")),
    )
    op.create_table(
        "automation_rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "position",
            sa.Integer(),
            nullable=False,
            comment="Order among API rules; workspace rules run first.",
        ),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rules")),
        sa.UniqueConstraint("key", name=op.f("uq_automation_rules_key")),
    )
    op.create_table(
        "rule_timers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("rule_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "waits_for",
            sa.String(length=32),
            nullable=False,
            comment="The ticket status the rule waits on.",
        ),
        sa.Column(
            "entered_at",
            opsdesk.db.UTCDateTime(timezone=True),
            nullable=False,
            comment="When the ticket entered that status.",
        ),
        sa.Column("fire_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", opsdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_rule_timers_ticket_id_tickets"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_timers")),
        sa.UniqueConstraint(
            "ticket_id",
            "rule_key",
            "entered_at",
            name=op.f("uq_rule_timers_ticket_id_rule_key_entered_at"),
        ),
    )
    with op.batch_alter_table("rule_timers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rule_timers_pending_fire_at",
            ["fire_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index("ix_rule_timers_ticket", ["ticket_id", "status"], unique=False)

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cause",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
                comment="The automation rule whose action caused this event, and chain depth.",
            )
        )
        batch_op.add_column(
            sa.Column("rules_done_at", opsdesk.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_outbox_events_rules_pending",
            ["id"],
            unique=False,
            postgresql_where=sa.text("rules_done_at IS NULL"),
            sqlite_where=sa.text("rules_done_at IS NULL"),
        )

    # Events written before automation existed must not trigger the new rules now.
    op.execute("UPDATE outbox_events SET rules_done_at = occurred_at")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "away_until",
                opsdesk.db.UTCDateTime(timezone=True),
                nullable=True,
                comment="Automatic assignment skips the user until then.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("away_until")

    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_events_rules_pending",
            postgresql_where=sa.text("rules_done_at IS NULL"),
            sqlite_where=sa.text("rules_done_at IS NULL"),
        )
        batch_op.drop_column("rules_done_at")
        batch_op.drop_column("cause")

    with op.batch_alter_table("rule_timers", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_timers_ticket")
        batch_op.drop_index(
            "ix_rule_timers_pending_fire_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.drop_table("rule_timers")
    op.drop_table("automation_rules")
    op.drop_table("assignment_cursors")
