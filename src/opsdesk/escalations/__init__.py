"""Escalation actions run when an SLA clock warns or breaches."""
