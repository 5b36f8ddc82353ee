"""Notifications to staff: an inbox per user, and e-mail, Slack and Teams by preference."""
