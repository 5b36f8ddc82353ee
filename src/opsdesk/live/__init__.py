"""Live updates for console pages: committed events pushed to browsers as server-sent events."""
