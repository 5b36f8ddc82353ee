"""Domain events: written to the outbox inside the action's transaction, sent after commit."""
