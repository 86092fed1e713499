"""Render a card as a self-contained HTML page, as Markdown, or as JSON.

User text is untrusted: the HTML environment autoescapes everything (labels inside the SVG
chart too), links are emitted only for http(s) URLs, and the page fetches nothing. Markdown
escapes HTML and the characters that would start links, emphasis, headings or table cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from mlgate.cards.lint import lint
from mlgate.cards.schemas import ModelCard, PerformanceMetric

__all__ = [
    "Bar",
    "Chart",
    "md_escape",
    "metric_charts",
    "render_html",
    "render_json",
    "render_markdown",
]

_BAR_AREA = 360.0  # px of the widest bar
_ROW = 22.0


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    y: float
    width: float
    ci_x1: float | None
    ci_x2: float | None

    @property
    def value_x(self) -> float:
        """Where the value label starts: right of the bar and of its interval whisker."""
        return max(self.width, self.ci_x2 or 0.0) + 6


@dataclass(frozen=True, slots=True)
class Chart:
    """One bar chart: a metric's value on each slice/group (overall first)."""

    metric: str
    bars: tuple[Bar, ...]
    height: float


def _x(value: float, scale: float) -> float:
    return round(max(0.0, value) / scale * _BAR_AREA, 2)


def metric_charts(metrics: list[PerformanceMetric]) -> list[Chart]:
    """Geometry for one chart per metric name; bars scale to the largest value (at least 1)."""
    by_name: dict[str, list[PerformanceMetric]] = {}
    for metric in metrics:
        by_name.setdefault(metric.name, []).append(metric)
    charts: list[Chart] = []
    for name, group in by_name.items():
        group.sort(key=lambda m: m.slice is not None)
        highs = [m.confidence_interval.high for m in group if m.confidence_interval]
        scale = max([1.0, *(abs(m.value) for m in group), *highs])
        bars = tuple(
            Bar(
                label=m.slice or "overall",
                value=m.value,
                y=i * _ROW,
                width=_x(m.value, scale),
                ci_x1=_x(m.confidence_interval.low, scale) if m.confidence_interval else None,
                ci_x2=_x(m.confidence_interval.high, scale) if m.confidence_interval else None,
            )
            for i, m in enumerate(group)
        )
        charts.append(Chart(metric=name, bars=bars, height=len(bars) * _ROW + 4))
    return charts


def _is_web_link(text: str) -> bool:
    return re.match(r"^https?://[^\s\"'<>]+$", text, re.IGNORECASE) is not None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(text: object) -> str:
    """Escape user text for Markdown: HTML is neutralised, markup characters backslashed."""
    # Backslashes first, entities second: a backslash inside "&#39;" would break the entity.
    escaped = str(escape(_MD_SPECIAL.sub(r"\\\1", str(text))))
    return re.sub(r"\r?\n", "<br>", escaped)


@cache
def _html_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mlgate.cards", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.tests["web_link"] = _is_web_link
    return env


def _md_finalize(value: object) -> Markup:
    # Macro output is already Markdown (Markup under autoescape); everything else is user text.
    return value if isinstance(value, Markup) else Markup(md_escape(value))  # noqa: S704


@cache
def _markdown_environment() -> Environment:
    # Autoescape only marks macro output as safe; `finalize` does the Markdown escaping of
    # every printed value, so a template cannot forget to.
    return Environment(
        loader=PackageLoader("mlgate.cards", "templates"),
        autoescape=True,
        finalize=_md_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(card: ModelCard) -> str:
    """A complete HTML page with inline CSS and SVG; no scripts, no external resources."""
    template = _html_environment().get_template("card.html.j2")
    return template.render(
        card=card,
        charts=metric_charts(card.metrics.performance_metrics),
        report=lint(card),
        bar_area=_BAR_AREA,
    )


def render_markdown(card: ModelCard) -> str:
    template = _markdown_environment().get_template("card.md.j2")
    text = template.render(card=card, report=lint(card))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_json(card: ModelCard) -> str:
    return card.model_dump_json(indent=2) + "\n"
