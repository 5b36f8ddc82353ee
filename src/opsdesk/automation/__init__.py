"""Automation rules: actions run on events or after a ticket has waited in a status."""
