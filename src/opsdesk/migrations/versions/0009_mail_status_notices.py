"""mail: earlier status changes get no status notice

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

From this revision the mail job also mails requesters about status changes. It picks up
every recent ticket.status_changed event that has no mail_deliveries row, so without
this backfill the first run after an upgrade would send notices for changes made days
before. Each existing status change gets a skipped row instead.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_REASON = "the status changed before status notices were mailed"


def upgrade() -> None:
    # The join leaves ticket_id null for an event whose ticket is gone, because the
    # outbox keeps ids of deleted tickets and mail_deliveries.ticket_id is a foreign key.
    op.execute(
        sa.text(
            """
            INSERT INTO mail_deliveries (
                event_id, ticket_id, kind, status, attempt_count,
                next_attempt_at, created_at, completed_at, last_error
            )
            SELECT e.id, t.id, 'status_change', 'skipped', 0,
                   e.occurred_at, e.occurred_at, e.occurred_at, :reason
            FROM outbox_events AS e
            LEFT JOIN tickets AS t ON t.id = e.ticket_id
            WHERE e.type = 'ticket.status_changed'
              AND NOT EXISTS (SELECT 1 FROM mail_deliveries AS d WHERE d.event_id = e.id)
            """
        ).bindparams(reason=BACKFILL_REASON)
    )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM mail_deliveries WHERE last_error = :reason").bindparams(
            reason=BACKFILL_REASON
        )
    )
