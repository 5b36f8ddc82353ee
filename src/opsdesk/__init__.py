"""Opsdesk: customer requests become tickets, operational tasks, SLA clocks and escalations."""

__version__ = "0.1.0"
