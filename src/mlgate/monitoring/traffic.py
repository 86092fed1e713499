"""The traffic report of one gateway route: volume, outcomes, latency and targets over a window.

It is computed from the request-log metadata (``request_logs``), so it shows what was logged:
routes with log mode ``off`` write nothing, retention deletes old rows, and a full log queue
drops records. The window is ``since <= at < until``; bucket ``i`` holds the rows whose offset
``o`` (microseconds from ``since``) satisfies ``i * span <= o * buckets < (i + 1) * span``, in
integers, so boundaries are exact. Outcomes fall in three disjoint classes: *ok* (``ok`` and
``client_closed``: the caller leaving is not a failure), *degraded* (``degraded_static``,
``degraded_cached``) and *errors* (``unavailable``, ``upstream_error``, ``interrupted``,
``deadline_exceeded`` and any outcome this module does not know). Shares are of all logged
requests in the window.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Invalid, NotFound
from mlgate.gateway import service as routes
from mlgate.gateway.models import RequestLog
from mlgate.gateway.schemas import RouteRead
from mlgate.monitoring import traffic_page
from mlgate.monitoring.schemas import HistogramBin, LatencySummary, TargetTraffic, TrafficBucket
from mlgate.monitoring.traffic_page import BINS_PER_DECADE
from mlgate.privacy.retention import DEFAULT_RETENTION_DAYS

__all__ = [
    "DEGRADED_OUTCOMES",
    "MAX_BUCKETS",
    "NO_TARGET",
    "OUTCOMES",
    "TrafficReport",
    "build_traffic_report",
    "parse_window",
]

# Every outcome the gateway writes (dataplane.finish, chat streams); the report lists each one.
OUTCOMES = (
    "ok",
    "degraded_static",
    "degraded_cached",
    "unavailable",
    "upstream_error",
    "interrupted",
    "deadline_exceeded",
    "client_closed",
)
DEGRADED_OUTCOMES = frozenset({"degraded_static", "degraded_cached"})
_NOT_ERRORS = frozenset({"ok", "client_closed"}) | DEGRADED_OUTCOMES
NO_TARGET = "-"
MAX_BUCKETS = 500
DEFAULT_SPAN = timedelta(hours=1)
_OK, _DEGRADED, _ERROR = 0, 1, 2
_MICROSECOND = timedelta(microseconds=1)
_PARTITION = 20_000  # rows fetched and turned into arrays at a time
_FLOOR_MS = 0.01  # the histogram's lowest edge; anything faster lands in the first bin
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class TrafficReport(BaseModel):
    """How a route did over ``[since, until)``; latencies in milliseconds."""

    model_config = ConfigDict(frozen=True)

    route: str
    since: AwareDatetime
    until: AwareDatetime
    bucket_seconds: float
    log_mode: str | None  # None: the route no longer exists
    retention_days: int
    requests: int
    errors: int
    error_share: float
    degraded: int
    degraded_share: float
    client_closed: int
    outcomes: dict[str, int]
    statuses: dict[int, int]
    latency_ms: LatencySummary
    targets: tuple[TargetTraffic, ...]
    timeline: tuple[TrafficBucket, ...]
    histogram: tuple[HistogramBin, ...]
    notes: tuple[str, ...]

    def to_html(self) -> str:
        """A single page: inline CSS and SVG, no scripts, nothing fetched from elsewhere."""
        return traffic_page.render(self)

    def write_html(self, path: Path) -> Path:
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def parse_window(
    since: str | None, until: str | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """``until``: ISO-8601 or a duration before now (default now); ``since``: ISO-8601 or a
    duration before ``until`` (default an hour before it). Naive timestamps are UTC."""
    end = _when(until, "until", now) if until else now
    start = _when(since, "since", end) if since else end - DEFAULT_SPAN
    return ensure_utc(start), ensure_utc(end)


def _when(value: str, field: str, origin: datetime) -> datetime:
    text = value.strip()
    duration = _DURATION.fullmatch(text)
    try:
        if duration:
            amount, unit = duration.groups()
            return origin - timedelta(**{_UNITS[unit]: int(amount)})
        # A '+' in an unencoded query string arrives as a space: "…T12:00:00 00:00".
        return ensure_utc(datetime.fromisoformat(re.sub(r" (\d\d:?\d\d)$", r"+\1", text)))
    except (ValueError, OverflowError):
        raise Invalid.field(
            field,
            f"{value!r} is neither an ISO-8601 timestamp (2026-06-01T12:00:00Z) "
            "nor a duration like 30m, 1h or 7d",
        ) from None


@dataclass(frozen=True, slots=True)
class _Rows:
    """The window's rows as columns; codes index ``outcome_names`` and ``target_names``."""

    latency: Floats
    bucket: Ints
    outcome: Ints
    target: Ints
    status: Ints
    outcome_names: tuple[str, ...]
    target_names: tuple[str, ...]


def build_traffic_report(
    session: Session,
    *,
    route: str,
    since: datetime,
    until: datetime,
    buckets: int = 60,
    now: datetime | None = None,
) -> TrafficReport:
    """The report of ``route`` over ``since <= at < until`` in ``buckets`` equal buckets.

    A route that exists (or once logged requests) but has none in the window gets an empty
    report; a name that is neither a route nor in the logs is NotFound.
    """
    since, until = ensure_utc(since), ensure_utc(until)
    if since >= until:
        raise Invalid.field("since", f"must be before until ({until.isoformat()})")
    if not 1 <= buckets <= MAX_BUCKETS:
        raise Invalid.field("buckets", f"must be between 1 and {MAX_BUCKETS}, not {buckets}")
    settings = _route_or_none(session, route)
    if settings is None and not _has_logs(session, route):
        raise NotFound(
            f"route '{route}' does not exist and has no request logs; "
            "list routes with `mlgate routes list`"
        )
    rows = _read(session, route=route, since=since, until=until, buckets=buckets)
    classes = _classes(rows.outcome_names)[rows.outcome]
    total = int(rows.latency.size)
    errors = int(np.count_nonzero(classes == _ERROR))
    degraded = int(np.count_nonzero(classes == _DEGRADED))
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for code, count in enumerate(np.bincount(rows.outcome, minlength=len(rows.outcome_names))):
        outcomes[rows.outcome_names[code]] = int(count)
    statuses, status_counts = np.unique(rows.status, return_counts=True)
    span = until - since
    retention = settings.retention_days if settings else DEFAULT_RETENTION_DAYS
    return TrafficReport(
        route=route,
        since=since,
        until=until,
        bucket_seconds=span.total_seconds() / buckets,
        log_mode=settings.log_mode if settings else None,
        retention_days=retention,
        requests=total,
        errors=errors,
        error_share=errors / total if total else 0.0,
        degraded=degraded,
        degraded_share=degraded / total if total else 0.0,
        client_closed=outcomes["client_closed"],
        outcomes=outcomes,
        statuses={int(s): int(c) for s, c in zip(statuses, status_counts, strict=True)},
        latency_ms=_summary(rows.latency),
        targets=_targets(rows, total),
        timeline=_timeline(rows, classes, since=since, span=span, buckets=buckets),
        histogram=_histogram(rows.latency),
        notes=_notes(settings, retention, since=since, now=now or utcnow()),
    )


def _route_or_none(session: Session, name: str) -> RouteRead | None:
    try:
        return routes.get_route(session, name=name)
    except NotFound:
        return None


def _has_logs(session: Session, route: str) -> bool:
    return (
        session.scalar(select(RequestLog.id).where(RequestLog.route == route).limit(1)) is not None
    )


def _read(session: Session, *, route: str, since: datetime, until: datetime, buckets: int) -> _Rows:
    """Stream the needed columns in partitions: no ORM objects, one array chunk per partition."""
    query = (
        select(
            RequestLog.at,
            RequestLog.latency_ms,
            RequestLog.outcome,
            RequestLog.target,
            RequestLog.status,
        )
        .where(RequestLog.route == route, RequestLog.at >= since, RequestLog.at < until)
        .execution_options(yield_per=_PARTITION)
    )
    span_us = (until - since) // _MICROSECOND
    outcome_codes: dict[str, int] = {}
    target_codes: dict[str, int] = {}
    latency: list[Floats] = []
    bucket: list[Ints] = []
    outcome: list[Ints] = []
    target: list[Ints] = []
    status: list[Ints] = []
    for partition in session.execute(query).partitions():
        ats, latencies, outcomes, targets, statuses = zip(*partition, strict=True)
        latency.append(np.asarray(latencies, dtype=np.float64))
        bucket.append(_ints((at - since) // _MICROSECOND * buckets // span_us for at in ats))
        outcome.append(_ints(outcome_codes.setdefault(o, len(outcome_codes)) for o in outcomes))
        target.append(
            _ints(target_codes.setdefault(t or NO_TARGET, len(target_codes)) for t in targets)
        )
        status.append(np.asarray(statuses, dtype=np.int64))
    return _Rows(
        latency=np.concatenate(latency) if latency else np.zeros(0, dtype=np.float64),
        bucket=_joined(bucket),
        outcome=_joined(outcome),
        target=_joined(target),
        status=_joined(status),
        outcome_names=tuple(outcome_codes),
        target_names=tuple(target_codes),
    )


def _ints(values: Iterable[int]) -> Ints:
    return np.fromiter(values, dtype=np.int64)


def _joined(parts: list[Ints]) -> Ints:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _classes(outcome_names: tuple[str, ...]) -> Ints:
    return np.asarray(
        [
            _DEGRADED if name in DEGRADED_OUTCOMES else _OK if name in _NOT_ERRORS else _ERROR
            for name in outcome_names
        ],
        dtype=np.int64,
    )


def _ms(value: float) -> float:
    return round(float(value), 3)


def _quantiles(values: Floats, *qs: float) -> list[float | None]:
    """Exact percentiles (numpy's default linear interpolation) of ``values``."""
    if values.size == 0:
        return [None] * len(qs)
    return [_ms(v) for v in np.percentile(values, qs)]


def _summary(latency: Floats) -> LatencySummary:
    if latency.size == 0:
        return LatencySummary()
    p50, p90, p99 = _quantiles(latency, 50, 90, 99)
    return LatencySummary(
        p50=p50, p90=p90, p99=p99, max=_ms(latency.max()), mean=_ms(latency.mean())
    )


def _groups(codes: Ints, values: Floats, size: int) -> list[Floats]:
    """``values`` split by ``codes`` (0 … size-1) in one sort rather than one scan per group."""
    if size == 0:
        return []
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=size)
    return np.split(values[order], np.cumsum(counts)[:-1])


def _targets(rows: _Rows, total: int) -> tuple[TargetTraffic, ...]:
    found = []
    for name, latencies in zip(
        rows.target_names,
        _groups(rows.target, rows.latency, len(rows.target_names)),
        strict=True,
    ):
        p50, p99 = _quantiles(latencies, 50, 99)
        count = int(latencies.size)
        found.append(
            TargetTraffic(target=name, requests=count, share=count / total, p50=p50, p99=p99)
        )
    return tuple(sorted(found, key=lambda t: (-t.requests, t.target)))


def _timeline(
    rows: _Rows, classes: Ints, *, since: datetime, span: timedelta, buckets: int
) -> tuple[TrafficBucket, ...]:
    span_us = span // _MICROSECOND
    requests = np.bincount(rows.bucket, minlength=buckets)
    errors = np.bincount(rows.bucket[classes == _ERROR], minlength=buckets)
    degraded = np.bincount(rows.bucket[classes == _DEGRADED], minlength=buckets)
    timeline = []
    for index, latencies in enumerate(_groups(rows.bucket, rows.latency, buckets)):
        p50, p99 = _quantiles(latencies, 50, 99)
        first_us = -(-index * span_us // buckets)  # the first microsecond the bucket holds
        timeline.append(
            TrafficBucket(
                start=since + timedelta(microseconds=first_us),
                requests=int(requests[index]),
                errors=int(errors[index]),
                degraded=int(degraded[index]),
                p50=p50,
                p99=p99,
            )
        )
    return tuple(timeline)


def _histogram(latency: Floats) -> tuple[HistogramBin, ...]:
    """Counts on log-spaced edges, whole decades wide enough to hold every latency."""
    if latency.size == 0:
        return ()
    low = math.floor(math.log10(max(float(latency.min()), _FLOOR_MS)))
    high = max(math.ceil(math.log10(max(float(latency.max()), _FLOOR_MS))), low + 1)
    edges = np.logspace(low, high, (high - low) * BINS_PER_DECADE + 1)
    counts, _ = np.histogram(np.clip(latency, edges[0], edges[-1]), bins=edges)
    return tuple(
        HistogramBin(lower=float(edges[i]), upper=float(edges[i + 1]), requests=int(count))
        for i, count in enumerate(counts)
    )


def _notes(
    settings: RouteRead | None, retention: int, *, since: datetime, now: datetime
) -> tuple[str, ...]:
    notes = []
    if settings is None:
        notes.append(
            "The route no longer exists: these are the request logs it left, kept for the "
            f"default {retention} days."
        )
    elif settings.log_mode == "off":
        notes.append(
            "This route's log mode is 'off': its requests are not logged, so they are not in "
            "this report (only routes whose log mode is not 'off' write request logs)."
        )
    else:
        notes.append(
            f"Only routes whose log mode is not 'off' write request logs (this one: "
            f"'{settings.log_mode}')."
        )
    horizon = now - timedelta(days=retention)
    retained = f"Retention deletes request logs older than {retention} days"
    if since < horizon:
        notes.append(f"{retained}: requests before {horizon.isoformat()} may be missing.")
    else:
        notes.append(f"{retained}.")
    notes.append(
        "Logs are written in batches off the hot path: the last seconds may not be stored yet, "
        "and a full queue drops records (mlgate_request_logs_dropped_total on /metrics), so "
        "counts are lower bounds."
    )
    errors = [outcome for outcome in OUTCOMES if outcome not in _NOT_ERRORS]
    notes.append(
        f"Errors are {', '.join(errors[:-1])} and {errors[-1]} answers (and any outcome this "
        "report does not know); degraded answers (degraded_static, degraded_cached) are counted "
        "apart; client_closed (the caller left) is neither. "
        "Shares are of all logged requests; latencies are of every logged request."
    )
    return tuple(notes)
