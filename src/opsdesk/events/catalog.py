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

TASK_EVENT_TYPES: tuple[str, ...] = (
    "task.created",
    "task.updated",
    "task.stage_changed",
    "task.completed",
    "sla.warning",
    "sla.breached",
    "escalation.triggered",
)
"""Event types that can be about a task: the task events always, and the SLA and escalation
events when the clock is a task's operational clock. Their payloads name the task (see
`opsdesk.automation.facts`)."""
