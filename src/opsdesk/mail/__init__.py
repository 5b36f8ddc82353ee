"""E-mail intake (parse, classify, extract replies, ingest) and outgoing mail."""
