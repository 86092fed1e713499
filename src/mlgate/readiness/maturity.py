"""MLOps maturity: the level (0-3) a workspace reaches, what is missing, and what to do next."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from mlgate.errors import Invalid
from mlgate.readiness.evidence import Attestation, CheckPolicy
from mlgate.readiness.facts import Facts
from mlgate.readiness.rubric import Rubric
from mlgate.readiness.scoring import ItemAssessment, assess_items

__all__ = ["LevelResult", "MaturityResult", "MissingCriterion", "assess_maturity"]


class MissingCriterion(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    level: int
    title: str
    reason: str
    recommendation: str


class LevelResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: int
    title: str
    met: tuple[str, ...]
    missing: tuple[MissingCriterion, ...]
    ratio: float
    reached: bool


class MaturityResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    workspace: str
    level: int
    levels: tuple[LevelResult, ...]
    missing: tuple[MissingCriterion, ...]
    next_steps: tuple[str, ...]


def _missing(assessment: ItemAssessment, level: int) -> MissingCriterion:
    item = assessment.item
    return MissingCriterion(
        id=item.id,
        level=level,
        title=item.title,
        reason=assessment.reason,
        recommendation=item.recommendation or f"Meet: {item.title}",
    )


def assess_maturity(
    model: Rubric,
    facts: Facts | Sequence[Facts],
    attestations: Iterable[Attestation] = (),
    *,
    now: datetime,
    workspace: str | None = None,
    policy: CheckPolicy | None = None,
) -> MaturityResult:
    """Assess a workspace: an observable criterion must hold for every model version given.

    A level is reached when at least ``model.threshold`` of its criteria are met and every lower
    level is reached. ``missing`` lists the unmet criteria up to the next level, lowest level
    first, so ``next_steps`` reads as a plan.
    """
    if model.kind != "maturity":
        message = f"'{model.id}' is a {model.kind} rubric, not a maturity model"
        raise Invalid.field("rubric", message)
    many = (facts,) if isinstance(facts, Facts) else tuple(facts)
    name = workspace or (many[0].workspace if many else "default")
    assessed = assess_items(model, many, attestations, now=now, policy=policy)
    levels: list[LevelResult] = []
    reached_so_far = True
    for section in sorted(model.sections, key=lambda s: s.level or 0):
        level = section.level or 0
        mine = [a for a in assessed if a.item.section == section.id]
        met = tuple(a.item.id for a in mine if a.met)
        ratio = len(met) / len(mine) if mine else 1.0
        reached_so_far = reached_so_far and ratio >= model.threshold
        levels.append(
            LevelResult(
                level=level,
                title=section.title,
                met=met,
                missing=tuple(_missing(a, level) for a in mine if not a.met),
                ratio=ratio,
                reached=reached_so_far,
            )
        )
    achieved = max((result.level for result in levels if result.reached), default=0)
    missing = tuple(
        criterion
        for result in levels
        if result.level <= achieved + 1
        for criterion in result.missing
    )
    return MaturityResult(
        workspace=name,
        level=achieved,
        levels=tuple(levels),
        missing=missing,
        next_steps=tuple(criterion.recommendation for criterion in missing),
    )
