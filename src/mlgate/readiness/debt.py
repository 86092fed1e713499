"""Technical debt items, prioritised on the impact/effort matrix, and debt from readiness gaps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from mlgate.readiness.rubric import Rubric
    from mlgate.readiness.scoring import ItemAssessment

__all__ = [
    "TRACKING",
    "DebtCategory",
    "DebtClosing",
    "DebtItem",
    "DebtLevel",
    "DebtStatus",
    "PrioritisedDebt",
    "Quadrant",
    "debt_from_assessments",
    "prioritise",
    "quadrant_of",
    "track_gaps",
]


class DebtCategory(StrEnum):
    """Broad areas, plus the named debts of Sculley et al. 2015 (Hidden Technical Debt in ML)."""

    DATA = "data"
    MODEL = "model"
    INFRASTRUCTURE = "infrastructure"
    MONITORING = "monitoring"
    DOCUMENTATION = "documentation"
    ENTANGLEMENT = "entanglement"
    CORRECTION_CASCADES = "correction_cascades"
    UNDECLARED_CONSUMERS = "undeclared_consumers"
    UNSTABLE_DATA_DEPENDENCIES = "unstable_data_dependencies"
    GLUE_CODE = "glue_code"
    PIPELINE_JUNGLES = "pipeline_jungles"
    DEAD_CODE_PATHS = "dead_code_paths"
    CONFIGURATION_DEBT = "configuration_debt"
    FEEDBACK_LOOPS = "feedback_loops"


class DebtLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class DebtStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    ACCEPTED = "accepted"


# An item in one of these tracks its gap: the gap is neither derived nor opened again. A
# resolved item does not; a gap that still fails comes back re-opened (``track_gaps``).
TRACKING = frozenset({DebtStatus.OPEN, DebtStatus.IN_PROGRESS, DebtStatus.ACCEPTED})


class DebtClosing(StrEnum):
    """The statuses an item closes with."""

    RESOLVED = DebtStatus.RESOLVED.value
    ACCEPTED = DebtStatus.ACCEPTED.value


class Quadrant(StrEnum):
    """Cells of the impact/effort matrix, in the order work should be picked up."""

    QUICK_WIN = "quick_win"
    MAJOR_PROJECT = "major_project"
    FILL_IN = "fill_in"
    THANKLESS = "thankless"


_RANK = {DebtLevel.LOW: 1, DebtLevel.MEDIUM: 2, DebtLevel.HIGH: 3}
_QUADRANT_ORDER = list(Quadrant)
_OPEN = {DebtStatus.OPEN, DebtStatus.IN_PROGRESS}
# Gaps found by a readiness assessment: how bad (severity) decides impact and time to fix.
_IMPACT_OF_SEVERITY = {
    "critical": DebtLevel.HIGH,
    "high": DebtLevel.HIGH,
    "medium": DebtLevel.MEDIUM,
    "low": DebtLevel.LOW,
}
_DAYS_TO_FIX = {"critical": 7, "high": 30, "medium": 90, "low": 180}


class DebtItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    category: DebtCategory
    impact: DebtLevel
    effort: DebtLevel
    owner: str | None = None
    due: AwareDatetime | None = None
    status: DebtStatus = DebtStatus.OPEN
    description: str = ""
    source_item: str | None = Field(default=None, description="rubric item this debt came from")
    reopened: bool = Field(
        default=False, description="resolved in the register, but its gap still fails"
    )

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN

    def overdue_at(self, now: datetime) -> bool:
        return self.is_open and self.due is not None and self.due < now


class PrioritisedDebt(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    item: DebtItem
    quadrant: Quadrant
    overdue: bool


def quadrant_of(impact: DebtLevel, effort: DebtLevel) -> Quadrant:
    """Medium counts with high on the impact axis and with low on the effort axis."""
    high_impact = impact is not DebtLevel.LOW
    low_effort = effort is not DebtLevel.HIGH
    if high_impact:
        return Quadrant.QUICK_WIN if low_effort else Quadrant.MAJOR_PROJECT
    return Quadrant.FILL_IN if low_effort else Quadrant.THANKLESS


def prioritise(
    items: Iterable[DebtItem], *, now: datetime, include_closed: bool = False
) -> list[PrioritisedDebt]:
    """Order debt: quick wins first, then by impact, effort, overdue, due date and id."""
    chosen = [item for item in items if include_closed or item.is_open]
    far_future = datetime.max.replace(tzinfo=now.tzinfo)

    def key(item: DebtItem) -> tuple[bool, int, int, int, bool, datetime, str]:
        return (
            not item.is_open,
            _QUADRANT_ORDER.index(quadrant_of(item.impact, item.effort)),
            -_RANK[item.impact],
            _RANK[item.effort],
            not item.overdue_at(now),
            item.due or far_future,
            item.id,
        )

    return [
        PrioritisedDebt(
            rank=position,
            item=item,
            quadrant=quadrant_of(item.impact, item.effort),
            overdue=item.overdue_at(now),
        )
        for position, item in enumerate(sorted(chosen, key=key), start=1)
    ]


def debt_from_assessments(
    rubric: Rubric,
    assessments: Iterable[ItemAssessment],
    *,
    now: datetime,
    owner: str | None = None,
) -> list[DebtItem]:
    """Turn every unmet rubric item into an open debt item due by its severity."""
    debts: list[DebtItem] = []
    for assessment in assessments:
        if assessment.met:
            continue
        item = assessment.item
        category = item.debt or rubric.section(item.section).debt or DebtCategory.INFRASTRUCTURE
        severity = item.severity.value
        debts.append(
            DebtItem(
                id=f"{rubric.id}:{item.id}",
                title=item.title,
                category=category,
                impact=_IMPACT_OF_SEVERITY[severity],
                effort=item.effort,
                owner=owner,
                due=now + timedelta(days=_DAYS_TO_FIX[severity]),
                description=assessment.reason,
                source_item=item.id,
            )
        )
    return debts


def track_gaps(registered: Iterable[DebtItem], gaps: Iterable[DebtItem]) -> list[DebtItem]:
    """The register plus every gap it does not track, ids being the gaps' ``rubric:item`` keys.

    An open, in-progress or accepted item tracks its gap. A resolved one does not: if its gap
    still fails, the gap comes back re-opened (flagged, with the resolved item's owner) rather
    than vanish behind an item that claims it is fixed.
    """
    kept = list(registered)
    tracked = {item.id for item in kept if item.status in TRACKING}
    resolved = {item.id: item for item in kept if item.status is DebtStatus.RESOLVED}
    for gap in gaps:
        if gap.id in tracked:
            continue
        closed = resolved.get(gap.id)
        if closed is not None:
            gap = gap.model_copy(
                update={
                    "reopened": True,
                    "owner": gap.owner or closed.owner,
                    "description": "resolved in the debt register, but still fails: "
                    + gap.description,
                }
            )
        kept.append(gap)
    return kept
