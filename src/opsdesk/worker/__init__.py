"""The background worker: fires due timers, fans events out and delivers webhooks."""
