"""Prometheus metrics of this hub process (each worker exposes its own, labelled with its name)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from contracts import TrafficRecord
from hub._traffic import WORKER

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One registry per hub, so tests and several hubs in one process do not share counters."""

    def __init__(self, worker: str = WORKER) -> None:
        self.registry = CollectorRegistry()
        self.worker = worker
        # provider: the configured instance of the agency's plugin (one bank of several); else the agency's code.
        labels = ["worker", "agency", "provider", "operation"]
        self.requests = Counter(
            "mpp_requests", "Requests answered, by outcome code", [*labels, "code"], registry=self.registry
        )
        self.latency = Histogram(
            "mpp_request_duration_seconds", "Time to answer a request", labels, buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge("mpp_requests_in_flight", "Requests being answered now", labels, registry=self.registry)
        self.agency_up = Gauge(
            "mpp_agency_up", "1 when the agency link's health check passes", ["worker", "agency", "provider"],
            registry=self.registry,
        )  # fmt: skip
        self.circuit_open = Gauge(
            "mpp_agency_circuit_open", "1 while the agency's circuit breaker is open",
            ["worker", "agency", "provider"],
            registry=self.registry,
        )  # fmt: skip
        self.consumer_lag = Gauge(
            "mpp_jetstream_consumer_pending", "Messages waiting for a JetStream consumer", ["worker", "consumer"],
            registry=self.registry,
        )  # fmt: skip
        self.applications = Gauge(
            "mpp_applications", "Applications by service and status", ["worker", "service", "status"],
            registry=self.registry,
        )  # fmt: skip
        # Counted, not audited: a record per stranger would let anyone grow the permanent log without limit.
        self.anonymous_refusals = Counter(
            "mpp_anonymous_refusals", "Requests refused before any consumer was identified", ["worker", "where"],
            registry=self.registry,
        )  # fmt: skip

    def observe(self, record: TrafficRecord) -> None:
        agency = record.agency or "hub"
        provider = record.provider or agency
        self.requests.labels(self.worker, agency, provider, record.operation, record.outcome).inc()
        self.latency.labels(self.worker, agency, provider, record.operation).observe(record.latency_ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
