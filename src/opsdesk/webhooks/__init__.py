"""Outbound webhooks: subscriptions, signed at-least-once delivery and the attempt log."""
