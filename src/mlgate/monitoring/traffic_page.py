"""The traffic report as a page: chart geometry computed here, drawn by the template as SVG.

The page is self-contained (inline CSS and SVG, no scripts, nothing fetched) and escapes every
value it shows: route and target names come from users. The chart types and the template
environment are shared with the drift page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

if TYPE_CHECKING:
    from mlgate.monitoring.traffic import TrafficReport

__all__ = [
    "BINS_PER_DECADE",
    "Chart",
    "Label",
    "Rect",
    "Series",
    "environment",
    "format_ms",
    "format_share",
    "render",
]

BINS_PER_DECADE = 5  # the latency histogram's bins per power of ten


def render(report: TrafficReport) -> str:
    return (
        environment()
        .get_template("traffic.html.j2")
        .render(
            report=report,
            requests_chart=_requests_chart(report),
            latency_chart=_latency_chart(report),
            histogram_chart=_histogram_chart(report),
        )
    )


_WIDTH, _HEIGHT = 720.0, 220.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 710.0, 12.0, 180.0
_PLOT_WIDTH, _PLOT_HEIGHT = _RIGHT - _LEFT, _BOTTOM - _TOP


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    kind: str  # the CSS class: ok, degraded, error, bar
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class Series:
    """A line broken where buckets are empty; a point without neighbours is drawn as a dot."""

    kind: str
    segments: tuple[str, ...]
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    rects: tuple[Rect, ...] = ()
    series: tuple[Series, ...] = ()
    labels: tuple[Label, ...] = ()
    width: float = _WIDTH
    height: float = _HEIGHT
    left: float = _LEFT
    right: float = _RIGHT
    top: float = _TOP
    bottom: float = _BOTTOM


def _clock(at: datetime, span: timedelta) -> str:
    if span > timedelta(days=1):
        return at.strftime("%m-%d %H:%M")
    return at.strftime("%H:%M:%S" if span <= timedelta(minutes=10) else "%H:%M")


def _time_axis(report: TrafficReport, top: str) -> tuple[Label, ...]:
    span = report.until - report.since
    return (
        Label(_LEFT - 6, _TOP + 4, top, "end"),
        Label(_LEFT - 6, _BOTTOM, "0", "end"),
        Label(_LEFT, _BOTTOM + 16, _clock(report.since, span), "start"),
        Label(_RIGHT, _BOTTOM + 16, f"{_clock(report.until, span)} UTC", "end"),
    )


def _nothing(title: str) -> Chart:
    middle = Label(_LEFT + _PLOT_WIDTH / 2, _TOP + _PLOT_HEIGHT / 2, "no requests")
    return Chart(title, labels=(middle,))


def _requests_chart(report: TrafficReport) -> Chart:
    top = max([bucket.requests for bucket in report.timeline] + [1])
    step = _PLOT_WIDTH / len(report.timeline)
    span = report.until - report.since
    rects = []
    for index, bucket in enumerate(report.timeline):
        ok = bucket.requests - bucket.errors - bucket.degraded
        base = _BOTTOM
        for kind, count in (("ok", ok), ("degraded", bucket.degraded), ("error", bucket.errors)):
            if count:
                height = _PLOT_HEIGHT * count / top
                base -= height
                when = _clock(bucket.start, span)
                rects.append(
                    Rect(
                        _LEFT + index * step,
                        base,
                        max(step * 0.85, 0.5),
                        height,
                        kind,
                        f"{when}: {count} {kind}",
                    )
                )
    return Chart("Requests per bucket", rects=tuple(rects), labels=_time_axis(report, str(top)))


def _series(kind: str, values: Sequence[float | None], top: float) -> Series:
    step = _PLOT_WIDTH / len(values)
    runs: list[list[tuple[float, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        point = (_LEFT + (index + 0.5) * step, _BOTTOM - _PLOT_HEIGHT * value / top)
        runs[-1].append(point)
    return Series(
        kind,
        segments=tuple(
            " ".join(f"{x:.1f},{y:.1f}" for x, y in run) for run in runs if len(run) > 1
        ),
        dots=tuple((round(run[0][0], 1), round(run[0][1], 1)) for run in runs if len(run) == 1),
    )


def _latency_chart(report: TrafficReport) -> Chart:
    title = "p50 and p99 latency per bucket (ms)"
    if not report.requests:
        return _nothing(title)
    p50 = [bucket.p50 for bucket in report.timeline]
    p99 = [bucket.p99 for bucket in report.timeline]
    top = max([v for v in p50 + p99 if v is not None] + [0.001])
    series = (_series("p50", p50, top), _series("p99", p99, top))
    return Chart(title, series=series, labels=_time_axis(report, format_ms(top)))


def _histogram_chart(report: TrafficReport) -> Chart:
    title = "Latency histogram (ms, log scale)"
    bins = report.histogram
    if not bins:
        return _nothing(title)
    top = max(max(b.requests for b in bins), 1)
    step = _PLOT_WIDTH / len(bins)
    rects = tuple(
        Rect(
            _LEFT + index * step,
            _BOTTOM - _PLOT_HEIGHT * b.requests / top,
            step * 0.9,
            _PLOT_HEIGHT * b.requests / top,
            "bar",
            f"{format_ms(b.lower)} to {format_ms(b.upper)} ms: {b.requests}",
        )
        for index, b in enumerate(bins)
        if b.requests
    )
    decades = [  # the edges are powers of ten every BINS_PER_DECADE bins
        Label(_LEFT + index * step, _BOTTOM + 16, f"{b.lower:g}")
        for index, b in enumerate(bins)
        if index % BINS_PER_DECADE == 0
    ]
    decades.append(Label(_RIGHT, _BOTTOM + 16, f"{bins[-1].upper:g} ms", "end"))
    axis = (Label(_LEFT - 6, _TOP + 4, str(top), "end"), Label(_LEFT - 6, _BOTTOM, "0", "end"))
    return Chart(title, rects=rects, labels=axis + tuple(decades))


def format_ms(value: float | None) -> str:
    """A latency for people: '-' when there is none, three significant decimals when small."""
    if value is None:
        return "-"
    return f"{value:,.1f}" if value >= 100 else f"{value:.3g}" if value < 1 else f"{value:.2f}"


def format_share(value: float) -> str:
    return f"{value * 100:.1f}%"


@cache
def environment() -> Environment:
    """The monitoring templates' environment: autoescaped, strict about undefined names."""
    environment = Environment(
        loader=PackageLoader("mlgate.monitoring", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["ms"] = format_ms
    environment.filters["share"] = format_share
    return environment
