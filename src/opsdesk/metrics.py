"""Prometheus metrics of this process, and the database figures every process shares.

Process metrics (requests, due lag, delivery latency) live in `REGISTRY`; the API exposes
them at /metrics and a separate worker with `--metrics-port`. Figures that belong to the
whole deployment (tickets, open clocks, breaches, outbox depth) are counted in the
database when /metrics is read, so any process reports the same numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# The *_created series (when each counter was first touched) only add noise to a scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)

# Buckets in seconds: a due instant should be met within milliseconds; anything over a
# second means the workers are behind.
_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "opsdesk_http_requests",
    "HTTP requests served by this process, by route template and status class.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "opsdesk_http_request_seconds",
    "Time to serve an HTTP request, by route template.",
    ["route"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
DUE_LAG = Histogram(
    "opsdesk_sla_due_lag_seconds",
    "From the instant an SLA warning, breach or escalation level was due to the moment this "
    "process fired it.",
    ["kind"],
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
FIRINGS = Counter(
    "opsdesk_sla_firings",
    "SLA warnings, breaches and escalation levels fired by this process.",
    ["kind"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "opsdesk_webhook_attempts",
    "Webhook delivery attempts made by this process, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_SECONDS = Histogram(
    "opsdesk_webhook_attempt_seconds",
    "Duration of one webhook delivery attempt, from sending to the response.",
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
WEBHOOK_COMMIT_TO_DELIVERY = Histogram(
    "opsdesk_webhook_event_to_delivery_seconds",
    "From the instant an event happened to its first successful delivery.",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
