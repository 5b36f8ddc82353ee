"""The staff console: pages for agents, technicians, supervisors and admins."""
