"""Import every model so that `Base.metadata` knows all tables (for Alembic and tests)."""

from opsdesk.db import Base
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.notifications.models import Notification
from opsdesk.sla.models import SlaClock
from opsdesk.tasks.models import Task
from opsdesk.tickets.models import IdempotencyKey, Ticket, TicketMessage, TimelineEntry
from opsdesk.users.models import ApiToken, TeamMember, User
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from opsdesk.workspace.models import WorkspaceState

__all__ = [
    "ApiToken",
    "Base",
    "EscalationFiring",
    "IdempotencyKey",
    "Notification",
    "OutboxEvent",
    "SlaClock",
    "Task",
    "TeamMember",
    "Ticket",
    "TicketMessage",
    "TimelineEntry",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "WorkspaceState",
]
