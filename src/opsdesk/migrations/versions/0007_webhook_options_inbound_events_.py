"""webhook options, inbound events, notification preferences

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import opsdesk.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", opsdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", opsdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["outbox_events.id"],
            name=op.f("fk_notification_deliveries_event_id_outbox_events"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_deliveries_user_id_users"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint(
            "event_id",
            "user_id",
            "channel",
            name=op.f("uq_notification_deliveries_event_id_user_id_channel"),
        ),
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_deliveries_pending_next",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            batch_op.f("ix_notification_deliveries_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "notification_preferences",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column(
            "channel", sa.String(length=16), nullable=False, comment="inbox, email, slack or teams."
        ),
        sa.Column("created_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint(
            "user_id",
            "event_type",
            "channel",
            name=op.f("uq_notification_preferences_user_id_event_type_channel"),
        ),
    )
    with op.batch_alter_table("notification_preferences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_preferences_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "inbound_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("received_at", opsdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_inbound_events_ticket_id_tickets"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_events")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_inbound_events_source_external_id")
        ),
    )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_events_ticket_id"), ["ticket_id"], unique=False
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "timezone",
                sa.String(length=64),
                nullable=True,
                comment="IANA zone for quiet hours.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "quiet_hours_start", sa.String(length=5), nullable=True, comment="HH:MM local time."
            )
        )
        batch_op.add_column(
            sa.Column(
                "quiet_hours_end", sa.String(length=5), nullable=True, comment="HH:MM local time."
            )
        )
        batch_op.add_column(sa.Column("slack_webhook_url", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("teams_webhook_url", sa.String(length=2000), nullable=True))

    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "conditions",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
                comment="A rule-style condition on the event's data; only matching events go.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "headers",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
                comment="Extra HTTP headers sent with every delivery.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "payload_template",
                sa.Text(),
                nullable=True,
                comment="A sandboxed Jinja2 template that renders the JSON body.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "previous_secret",
                sa.String(length=200),
                nullable=True,
                comment="The secret before the last rotation, still signed with.",
            )
        )
        batch_op.add_column(
            sa.Column(
                "previous_secret_expires_at", opsdesk.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "failing_since",
                opsdesk.db.UTCDateTime(timezone=True),
                nullable=True,
                comment="Start of the current run of failed deliveries; cleared by a success.",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("failing_since")
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret")
        batch_op.drop_column("payload_template")
        batch_op.drop_column("headers")
        batch_op.drop_column("conditions")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("teams_webhook_url")
        batch_op.drop_column("slack_webhook_url")
        batch_op.drop_column("quiet_hours_end")
        batch_op.drop_column("quiet_hours_start")
        batch_op.drop_column("timezone")

    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_events_ticket_id"))

    op.drop_table("inbound_events")
    with op.batch_alter_table("notification_preferences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_preferences_user_id"))

    op.drop_table("notification_preferences")
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_deliveries_user_id"))
        batch_op.drop_index(
            "ix_notification_deliveries_pending_next",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.drop_table("notification_deliveries")
