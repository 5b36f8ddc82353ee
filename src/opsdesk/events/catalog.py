"""Every event type Opsdesk emits. Subscriptions filter on these names."""

EVENT_TYPES: tuple[str, ...] = (
    "ticket.created",
    "ticket.updated",
    "ticket.status_changed",
    "ticket.priority_changed",
    "ticket.assigned",
    "ticket.replied",
    "ticket.customer_replied",
    "ticket.note_added",
    "task.created",
    "task.updated",
    "task.stage_changed",
    "task.completed",
    "sla.warning",
    "sla.breached",
    "escalation.triggered",
    "escalation.acknowledged",
    "automation.rule_ran",
    "webhook.disabled",
)
