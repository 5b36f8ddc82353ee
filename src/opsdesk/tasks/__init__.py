"""Operational tasks that field crews carry out for a ticket, moved through pipeline stages."""
