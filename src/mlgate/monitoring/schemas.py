"""Value types of the monitoring reports: latency summaries, per-target rows, time buckets."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["HistogramBin", "LatencySummary", "TargetTraffic", "TrafficBucket"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class LatencySummary(_Value):
    """Exact statistics of the window's latencies in milliseconds; None when it has no request."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None


class TargetTraffic(_Value):
    """The requests one target served; ``-`` holds those no target served (degraded, 503)."""

    target: str
    requests: int
    share: float = Field(description="Of all requests in the window.")
    p50: float | None
    p99: float | None


class TrafficBucket(_Value):
    """One equal slice of the window, ``start`` included; empty slices have zeros and None."""

    start: AwareDatetime
    requests: int
    errors: int
    degraded: int
    p50: float | None
    p99: float | None


class HistogramBin(_Value):
    """Requests with ``lower <= latency_ms < upper`` (the last bin includes its upper edge)."""

    lower: float
    upper: float
    requests: int
