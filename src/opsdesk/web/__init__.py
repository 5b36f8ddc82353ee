"""The HTTP application: API routes, error mapping and (later) pages."""
