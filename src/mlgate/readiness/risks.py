"""Top risks: unmet rubric items ranked by severity times exposure in this deployment."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from mlgate.readiness.evidence import Status
from mlgate.readiness.facts import Facts
from mlgate.readiness.rubric import Exposure, Severity
from mlgate.readiness.scoring import ItemAssessment

__all__ = ["SEVERITY_WEIGHT", "Risk", "exposure_weight", "top_risks"]

SEVERITY_WEIGHT = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}


class Risk(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    item_id: str
    title: str
    section: str
    severity: Severity
    exposure: Exposure
    score: int
    status: Status
    reason: str


def exposure_weight(exposure: Exposure, facts: Facts) -> int:
    """How exposed this deployment is to a gap: 3 exposed, 2 unclear or operational, 1 remote.

    A gap on the request path only bites while traffic flows; a privacy gap only where the card
    says the model uses sensitive data (a silent card is treated as "maybe").
    """
    if exposure is Exposure.TRAFFIC:
        return 3 if facts.serving_traffic else 1
    if exposure is Exposure.SENSITIVE_DATA:
        sensitive = facts.card.sensitive_data
        return 2 if sensitive is None else (3 if sensitive else 1)
    if exposure is Exposure.OPERATIONS:
        return 2
    return 1


def top_risks(
    assessments: Iterable[ItemAssessment], facts: Facts, *, limit: int | None = 10
) -> list[Risk]:
    """Unmet items, highest severity x exposure first.

    Ties go to the higher severity, then the higher exposure, then failed before unknown, then
    the item id, so the same facts always give the same order.
    """
    scored: list[tuple[tuple[int, int, int, int, str], ItemAssessment, int]] = []
    seen: set[str] = set()
    for assessment in assessments:
        item = assessment.item
        if assessment.met or item.id in seen:
            continue
        seen.add(item.id)
        severity = SEVERITY_WEIGHT[item.severity]
        exposure = exposure_weight(item.exposure, facts)
        failed_first = 0 if assessment.status is Status.UNSATISFIED else 1
        key = (-severity * exposure, -severity, -exposure, failed_first, item.id)
        scored.append((key, assessment, severity * exposure))
    scored.sort(key=lambda entry: entry[0])
    chosen = scored if limit is None else scored[:limit]
    return [
        Risk(
            rank=position,
            item_id=assessment.item.id,
            title=assessment.item.title,
            section=assessment.item.section,
            severity=assessment.item.severity,
            exposure=assessment.item.exposure,
            score=score,
            status=assessment.status,
            reason=assessment.reason,
        )
        for position, (_, assessment, score) in enumerate(chosen, start=1)
    ]
