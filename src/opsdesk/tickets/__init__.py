"""Customer requests: intake, conversation, status and the ticket timeline."""
