"""Staff accounts, their teams and API tokens."""
