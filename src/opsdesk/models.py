"""Import every model so that `Base.metadata` knows all tables (for Alembic and tests)."""

from opsdesk.automation.models import AssignmentCursor, AutomationRule, RuleTimer
from opsdesk.db import Base
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.mail.models import MailDelivery
from opsdesk.notifications.models import Notification, NotificationDelivery, NotificationPreference
from opsdesk.sla.models import SlaClock
from opsdesk.tasks.models import Task
from opsdesk.tickets.models import Attachment, IdempotencyKey, Ticket, TicketMessage, TimelineEntry
from opsdesk.users.models import ApiToken, SavedView, TeamMember, User, WebSession
from opsdesk.web.models import RateLimitBucket
from opsdesk.webhooks.models import (
    InboundEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from opsdesk.workspace.models import WorkspaceState

__all__ = [
    "ApiToken",
    "AssignmentCursor",
    "Attachment",
    "AutomationRule",
    "Base",
    "EscalationFiring",
    "IdempotencyKey",
    "InboundEvent",
    "MailDelivery",
    "Notification",
    "NotificationDelivery",
    "NotificationPreference",
    "OutboxEvent",
    "RateLimitBucket",
    "RuleTimer",
    "SavedView",
    "SlaClock",
    "Task",
    "TeamMember",
    "Ticket",
    "TicketMessage",
    "TimelineEntry",
    "User",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
    "WorkspaceState",
]
