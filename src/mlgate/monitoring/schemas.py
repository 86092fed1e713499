"""Value types of the monitoring reports: traffic (latency, targets, buckets) and drift."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "DriftFeatureProfile",
    "DriftReferenceCreate",
    "DriftReferenceRead",
    "DriftReport",
    "FeatureDrift",
    "HistogramBin",
    "LatencySummary",
    "TargetDrift",
    "TargetTraffic",
    "TrafficBucket",
]


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


class DriftFeatureProfile(_Value):
    """One feature of a reference profile: its bins and the reference's count in each.

    Numeric: ``edges`` are cut points, bin ``i`` holds ``edges[i-1] <= x < edges[i]``.
    Categorical: one bin per value in ``categories``, then "other". The last bin of both counts
    missing or unreadable values.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    edges: list[float] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    reference: list[int]
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None


class DriftReferenceCreate(BaseModel):
    """Reference rows for a version: ``columns`` name the features in the order rows hold them.

    A request's rows are matched by position (rows as lists) or by name (rows as objects).
    """

    model_config = ConfigDict(extra="forbid")

    columns: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=1)
    rows: list[list[Any]] = Field(min_length=1)
    bins: int = Field(default=10, ge=2, le=50)


class DriftReferenceRead(_Value):
    model: str
    version: int
    rows: int
    features: list[DriftFeatureProfile]
    created_at: AwareDatetime
    created_by: str


class FeatureDrift(_Value):
    """How one feature's served values compare with the reference (None: nothing served)."""

    name: str
    kind: str
    rows: int
    current: list[int]
    psi: float | None = None
    js_distance: float | None = None
    p_value: float | None = None
    drifted: bool = False


class TargetDrift(_Value):
    """Drift of one version a route served in the window."""

    model: str
    version: int
    rows: int = Field(description="Rows counted (a request may hold several).")
    requests: int
    unreadable: int = Field(description="Requests whose inputs could not be read as rows.")
    status: Literal["drift", "no_drift", "not_enough_data", "no_reference"]
    drifted_features: int
    drift_share: float = Field(description="Of the features, the share that drifted.")
    features: list[FeatureDrift]
    reference: list[DriftFeatureProfile]


class DriftReport(_Value):
    """Drift of what a route served over ``[since, until)``, per version with a reference."""

    route: str
    since: AwareDatetime
    until: AwareDatetime
    threshold: float = Field(description="A feature drifts when its PSI reaches this.")
    drift_share: float = Field(description="A version drifts when this share of features do.")
    min_rows: int = Field(description="Fewer rows than this are not judged.")
    drifted: bool
    targets: list[TargetDrift]
