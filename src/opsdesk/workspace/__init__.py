"""The workspace file: calendars, SLA policies, pipelines, escalations and subscriptions."""

from opsdesk.workspace.loader import load_workspace, parse_workspace
from opsdesk.workspace.runtime import CHANNELS, TicketFacts, Workspace

__all__ = ["CHANNELS", "TicketFacts", "Workspace", "load_workspace", "parse_workspace"]
