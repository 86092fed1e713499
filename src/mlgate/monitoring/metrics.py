"""Prometheus metrics of the gateway, in a registry owned by one gateway (not the global one)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["GatewayMetrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mlgate_gateway_requests",
            "Requests by route, serving target and outcome.",
            ["route", "target", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "mlgate_gateway_request_seconds",
            "Whole-request latency in the gateway.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "mlgate_gateway_attempts",
            "Attempts per target and outcome (incl. skips).",
            ["route", "target", "outcome"],
            registry=r,
        )
        self.retries = Counter("mlgate_gateway_retries", "Retries sent.", ["route"], registry=r)
        self.fallbacks = Counter(
            "mlgate_gateway_fallbacks",
            "Requests answered by a fallback target.",
            ["route"],
            registry=r,
        )
        self.degraded = Counter(
            "mlgate_gateway_degraded", "Degraded answers.", ["route", "mode"], registry=r
        )
        self.shed = Counter(
            "mlgate_gateway_shed",
            "Requests shed: every target full or open.",
            ["route"],
            registry=r,
        )
        self.rate_limited = Counter(
            "mlgate_gateway_rate_limited",
            "Requests refused by a rate limit.",
            ["route", "limit"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "mlgate_gateway_breaker_state",
            "Breaker state: 0 closed, 1 half-open, 2 open.",
            ["target"],
            registry=r,
        )
        self.logs_dropped = Counter(
            "mlgate_request_logs_dropped", "Request-log records dropped (queue full).", registry=r
        )
        self.drift_dropped = Counter(
            "mlgate_drift_observations_dropped",
            "Inputs not counted for drift (the queue between two flushes was full).",
            registry=r,
        )
        self.logs_written = Counter(
            "mlgate_request_logs_written", "Request-log records written.", registry=r
        )
        self.table_revision = Gauge(
            "mlgate_gateway_route_table_revision",
            "Audit head the route table was built at.",
            registry=r,
        )
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: the hot path asks for the same few often."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found
