"""One readiness report, rendered as JSON, Markdown and a self-contained HTML page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mlgate.readiness.debt import (
    DebtItem,
    PrioritisedDebt,
    debt_from_assessments,
    prioritise,
    track_gaps,
)
from mlgate.readiness.evidence import Attestation, CheckPolicy
from mlgate.readiness.facts import Facts
from mlgate.readiness.maturity import MaturityResult, assess_maturity
from mlgate.readiness.risks import Risk, top_risks
from mlgate.readiness.rubric import (
    Rubric,
    load_maturity_model,
    load_ml_test_score,
    load_production_checklist,
)
from mlgate.readiness.scoring import ChecklistResult, MLTestScore, assess_checklist, score_ml_test

__all__ = ["ReadinessReport", "TrendPoint", "build_report"]


class TrendPoint(BaseModel):
    """One version's final ML Test Score; a report's trend runs by version number."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(pattern=r"^v[1-9][0-9]*$", description="The version as vN.")
    score: float

    @property
    def number(self) -> int:
        return int(self.version[1:])


class ReadinessReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    workspace: str
    model: str
    version: int
    generated_at: AwareDatetime
    ml_test_score: MLTestScore
    checklist: ChecklistResult
    maturity: MaturityResult
    top_risks: tuple[Risk, ...]
    debt: tuple[PrioritisedDebt, ...]
    trend: tuple[TrendPoint, ...] = Field(description="Final score per version, by version.")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_markdown(self) -> str:
        return _environment().get_template("report.md.j2").render(report=self)

    def to_html(self) -> str:
        """A single page: inline CSS and SVG, no scripts, nothing fetched from elsewhere."""
        return (
            _environment()
            .get_template("report.html.j2")
            .render(
                report=self,
                scale=_scale(self.ml_test_score),
                bars=_bars(self.ml_test_score),
                trend=_trend(self.trend, _scale(self.ml_test_score)),
            )
        )

    def write_html(self, path: Path) -> Path:
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def build_report(
    facts: Facts,
    attestations: Iterable[Attestation] = (),
    *,
    now: datetime,
    workspace_maturity: MaturityResult | None = None,
    debt: Iterable[DebtItem] = (),
    trend: Iterable[TrendPoint] = (),
    ml_test_score: Rubric | None = None,
    checklist: Rubric | None = None,
    policy: CheckPolicy | None = None,
    risk_limit: int = 10,
) -> ReadinessReport:
    """Assess one version against the three rubrics (the shipped ones unless given).

    The maturity section is ``workspace_maturity`` when given (the store passes the
    workspace's, so a report and the maturity assessment cannot disagree); otherwise it is
    assessed over this version alone, with the shipped maturity model.

    Unmet checklist items join ``debt`` as derived debt items unless a registered item with the
    same id tracks them (the register's owner and status win); one registered as resolved does
    not, so a gap that still fails comes back flagged ``reopened`` (``track_gaps``).

    The trend runs by version number, oldest version first, whatever order the versions were
    assessed in; this version's own score joins it unless the trend already names it.
    """
    kept = tuple(attestations)
    mts_rubric = ml_test_score or load_ml_test_score()
    checklist_rubric = checklist or load_production_checklist()
    score = score_ml_test(mts_rubric, facts, kept, now=now, policy=policy)
    status = assess_checklist(checklist_rubric, facts, kept, now=now, policy=policy)
    level = workspace_maturity or assess_maturity(
        load_maturity_model(),
        facts,
        kept,
        now=now,
        workspace=facts.workspace,
        policy=policy,
    )
    unmet = [a for section in score.sections for a in section.items] + list(status.items)
    derived = debt_from_assessments(checklist_rubric, status.items, now=now)
    register = track_gaps(debt, derived)
    points = list(trend)
    if not any(point.number == facts.version for point in points):
        points.append(TrendPoint(version=f"v{facts.version}", score=score.final))
    points.sort(key=lambda point: point.number)
    return ReadinessReport(
        workspace=facts.workspace,
        model=facts.model,
        version=facts.version,
        generated_at=now,
        ml_test_score=score,
        checklist=status,
        maturity=level,
        top_risks=tuple(top_risks(unmet, facts, limit=risk_limit)),
        debt=tuple(prioritise(register, now=now)),
        trend=tuple(points),
    )


@dataclass(frozen=True, slots=True)
class _Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class _Trend:
    points: str
    labels: tuple[tuple[float, float, str, float], ...]


_CHART_HEIGHT = 140.0
_CHART_TOP = 10.0


def _scale(score: MLTestScore) -> float:
    """The top of both charts: the most a section (and so the final score) can reach."""
    return max([section.max_score for section in score.sections] + [1.0])


def _bars(score: MLTestScore) -> tuple[_Bar, ...]:
    top = _scale(score)
    bars = []
    for index, section in enumerate(score.sections):
        height = _CHART_HEIGHT * section.score / top
        bars.append(
            _Bar(
                label=section.id,
                value=section.score,
                x=40.0 + index * 90.0,
                y=_CHART_TOP + _CHART_HEIGHT - height,
                width=60.0,
                height=height,
            )
        )
    return tuple(bars)


def _trend(points: Sequence[TrendPoint], top: float) -> _Trend:
    # On the bars' scale, not the highest score seen: 1.0 to 1.5 is a small step, drawn so.
    top = max([point.score for point in points] + [top])
    step = 340.0 / max(len(points) - 1, 1)
    coords = [
        (40.0 + index * step, _CHART_TOP + _CHART_HEIGHT * (1 - point.score / top), point)
        for index, point in enumerate(points)
    ]
    return _Trend(
        points=" ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coords),
        labels=tuple((x, y, point.version, point.score) for x, y, point in coords),
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]|<>~])")


def _markdown_text(value: object) -> str:
    """Inline-safe Markdown: specials escaped, no raw HTML, no line breaks inside table cells."""
    text = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("&", "&amp;"))


@cache
def _environment() -> Environment:
    # HTML templates escape everything; Markdown templates escape through the ``md`` filter.
    environment = Environment(
        loader=PackageLoader("mlgate.readiness", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("md.j2",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["md"] = _markdown_text
    return environment
