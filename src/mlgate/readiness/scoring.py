"""Resolve each rubric item's evidence, then score the ML Test Score and the checklist."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, computed_field

from mlgate.errors import Invalid, NotFound
from mlgate.readiness.checks import run_check
from mlgate.readiness.evidence import (
    Attestation,
    CheckPolicy,
    CheckResult,
    EvidenceLevel,
    Status,
)
from mlgate.readiness.facts import Facts
from mlgate.readiness.rubric import Rubric, RubricItem

__all__ = [
    "ChecklistResult",
    "EvidenceSource",
    "GroupStatus",
    "ItemAssessment",
    "MLTestScore",
    "SectionScore",
    "assess_checklist",
    "assess_item",
    "assess_items",
    "score_ml_test",
]

_POINTS = {EvidenceLevel.MANUAL: 0.5, EvidenceLevel.AUTOMATED: 1.0}


class EvidenceSource(StrEnum):
    CHECK = "check"
    ATTESTATION = "attestation"
    NONE = "none"


class ItemAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: RubricItem
    status: Status
    source: EvidenceSource
    level: EvidenceLevel | None = None
    points: float = 0.0
    reason: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def met(self) -> bool:
        return self.status is Status.SATISFIED


def _combined_check(
    name: str, facts: Sequence[Facts], *, now: datetime, policy: CheckPolicy
) -> CheckResult:
    """One check over several model versions: all must pass; any failure fails the whole."""
    if not facts:
        return CheckResult(status=Status.UNKNOWN, reason="no model versions to inspect")
    if len(facts) == 1:
        return run_check(name, facts[0], now=now, policy=policy)
    results = [(one, run_check(name, one, now=now, policy=policy)) for one in facts]
    failed = [
        f"{one.model}@{one.version}: {r.reason}"
        for one, r in results
        if r.status is Status.UNSATISFIED
    ]
    if failed:
        return CheckResult(status=Status.UNSATISFIED, reason="; ".join(failed))
    if all(r.status is Status.SATISFIED for _, r in results):
        return CheckResult(status=Status.SATISFIED, reason=f"holds for all {len(facts)} versions")
    unknown = [f"{one.model}@{one.version}" for one, r in results if r.status is Status.UNKNOWN]
    return CheckResult(status=Status.UNKNOWN, reason=f"unknown for {', '.join(unknown)}")


def assess_item(
    item: RubricItem,
    facts: Facts | Sequence[Facts],
    attestations: Iterable[Attestation] = (),
    *,
    now: datetime,
    policy: CheckPolicy | None = None,
) -> ItemAssessment:
    """Automatic evidence decides when its check can tell; otherwise a valid attestation counts."""
    policy = policy or CheckPolicy()
    many = (facts,) if isinstance(facts, Facts) else tuple(facts)
    check_reason = ""
    if item.check is not None:
        result = _combined_check(item.check, many, now=now, policy=policy)
        if result.status is not Status.UNKNOWN:
            satisfied = result.status is Status.SATISFIED
            return ItemAssessment(
                item=item,
                status=result.status,
                source=EvidenceSource.CHECK,
                level=EvidenceLevel.AUTOMATED if satisfied else None,
                points=1.0 if satisfied else 0.0,
                reason=result.reason,
            )
        check_reason = f"{result.reason}; "
    mine = [a for a in attestations if a.item_id == item.id]
    valid = [a for a in mine if a.valid_at(now)]
    if valid:
        best = max(valid, key=lambda a: (_POINTS[a.level], a.expires_at, a.by))
        note = f" ({best.note})" if best.note else ""
        return ItemAssessment(
            item=item,
            status=Status.SATISFIED,
            source=EvidenceSource.ATTESTATION,
            level=best.level,
            points=_POINTS[best.level],
            reason=f"{best.level.value} evidence attested by {best.by} on "
            f"{best.at.date().isoformat()}, valid until {best.expires_at.date().isoformat()}{note}",
        )
    expired = [a for a in mine if a.expires_at <= now]
    if expired:
        last = max(expired, key=lambda a: a.expires_at)
        missing = f"the attestation by {last.by} expired on {last.expires_at.date().isoformat()}"
    else:
        missing = "no valid attestation"
    return ItemAssessment(
        item=item,
        status=Status.UNKNOWN if check_reason else Status.UNSATISFIED,
        source=EvidenceSource.NONE,
        reason=f"{check_reason}{missing}",
    )


def assess_items(
    rubric: Rubric,
    facts: Facts | Sequence[Facts],
    attestations: Iterable[Attestation] = (),
    *,
    now: datetime,
    policy: CheckPolicy | None = None,
) -> list[ItemAssessment]:
    """Assess every item of ``rubric`` in rubric order."""
    kept = tuple(attestations)
    return [assess_item(item, facts, kept, now=now, policy=policy) for item in rubric.items]


class SectionScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    score: float
    max_score: float
    items: tuple[ItemAssessment, ...]


class MLTestScore(BaseModel):
    """Section scores are sums of item points; the final score is the weakest section's."""

    model_config = ConfigDict(frozen=True)

    rubric_id: str
    sections: tuple[SectionScore, ...]
    final: float
    band: str
    weakest: tuple[str, ...]


def score_ml_test(
    rubric: Rubric,
    facts: Facts,
    attestations: Iterable[Attestation] = (),
    *,
    now: datetime,
    policy: CheckPolicy | None = None,
) -> MLTestScore:
    if rubric.kind != "ml_test_score":
        message = f"'{rubric.id}' is a {rubric.kind} rubric, not an ML Test Score"
        raise Invalid.field("rubric", message)
    assessed = assess_items(rubric, facts, attestations, now=now, policy=policy)
    sections = []
    for section in rubric.sections:
        items = tuple(a for a in assessed if a.item.section == section.id)
        sections.append(
            SectionScore(
                id=section.id,
                title=section.title,
                score=sum(a.points for a in items),
                max_score=float(len(items)),
                items=items,
            )
        )
    final = min(section.score for section in sections)
    return MLTestScore(
        rubric_id=rubric.id,
        sections=tuple(sections),
        final=final,
        band=rubric.band_for(final).label,
        weakest=tuple(section.id for section in sections if section.score == final),
    )


class GroupStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    met: int
    total: int
    unmet: tuple[str, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return not self.unmet


class ChecklistResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    rubric_id: str
    groups: tuple[GroupStatus, ...]
    items: tuple[ItemAssessment, ...]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def met(self) -> int:
        return sum(group.met for group in self.groups)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)

    def item(self, item_id: str) -> ItemAssessment:
        for assessment in self.items:
            if assessment.item.id == item_id:
                return assessment
        raise NotFound(f"checklist '{self.rubric_id}' has no item '{item_id}'")

    def group(self, group_id: str) -> GroupStatus:
        for group in self.groups:
            if group.id == group_id:
                return group
        raise NotFound(f"checklist '{self.rubric_id}' has no group '{group_id}'")


def assess_checklist(
    rubric: Rubric,
    facts: Facts,
    attestations: Iterable[Attestation] = (),
    *,
    now: datetime,
    policy: CheckPolicy | None = None,
) -> ChecklistResult:
    """Status of every checklist item, and per group how many are met and which are not."""
    assessed = tuple(assess_items(rubric, facts, attestations, now=now, policy=policy))
    groups = []
    for section in rubric.sections:
        items = [a for a in assessed if a.item.section == section.id]
        groups.append(
            GroupStatus(
                id=section.id,
                title=section.title,
                met=sum(1 for a in items if a.met),
                total=len(items),
                unmet=tuple(a.item.id for a in items if not a.met),
            )
        )
    return ChecklistResult(rubric_id=rubric.id, groups=tuple(groups), items=assessed)
