"""Notifications to staff: an inbox per user, filled by escalations."""
