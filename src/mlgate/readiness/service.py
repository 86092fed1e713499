"""Readiness over the store: assess versions and the workspace, keep snapshots, open debt.

Automatic evidence is never stored: every assessment gathers the facts afresh, so it changes the
moment the registry, a card or a route does; attestations (``attestations.py``) are compared
with ``now``. Assessing with ``record=True`` keeps a snapshot of the scores (one audit entry),
which later reports draw as the trend across versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.ids import new_id
from mlgate.readiness import debt_register
from mlgate.readiness.attestations import (
    attest,
    evidence,
    list_attestations,
    resolve_version,
    rubrics,
)
from mlgate.readiness.facts import Facts
from mlgate.readiness.maturity import MaturityResult, assess_maturity
from mlgate.readiness.models import AssessmentSnapshot
from mlgate.readiness.providers import DEFAULT_WORKSPACE, gather_facts
from mlgate.readiness.report import ReadinessReport, TrendPoint, build_report
from mlgate.readiness.schemas import DebtRead, SnapshotRead
from mlgate.readiness.scoring import GroupStatus, assess_checklist
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "assess",
    "assess_all",
    "attest",
    "checklist_group",
    "debt_from_assessment",
    "list_attestations",
    "list_snapshots",
    "maturity",
    "rubrics",
]


def _workspace(session: Session, workspace: str) -> dict[str, tuple[ModelVersion, Facts]]:
    """The latest version of every model that has one, with its facts, in name order."""
    rows = session.execute(
        select(Model.name, ModelVersion)
        .join(ModelVersion, ModelVersion.model_id == Model.id)
        .where(ModelVersion.version == Model.latest_version)
        .order_by(Model.name)
    ).all()
    return {
        name: (row, gather_facts(session, model=name, version=row.version, workspace=workspace))
        for name, row in rows
    }


def _trend(session: Session, *, model_id: str, exclude_version: int) -> list[TrendPoint]:
    """The latest recorded final score of each other version of the model, by version."""
    rows = session.execute(
        select(ModelVersion.version, AssessmentSnapshot.final)
        .join(ModelVersion, ModelVersion.id == AssessmentSnapshot.version_id)
        .where(ModelVersion.model_id == model_id, ModelVersion.version != exclude_version)
        .order_by(ModelVersion.version, AssessmentSnapshot.assessed_at)
    ).all()
    latest = {number: final for number, final in rows}
    return [TrendPoint(version=f"v{n}", score=score) for n, score in sorted(latest.items())]


def assess(
    session: Session,
    *,
    model: str,
    version: int | None = None,
    actor: Principal,
    record: bool = True,
    now: datetime | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> ReadinessReport:
    """Assess ``model@version`` (default: the latest) against the three shipped rubrics.

    The report's maturity is the workspace's, exactly as ``maturity`` assesses it (the latest
    version of every model), whichever version the report is about.
    """
    now = now or utcnow()
    row = resolve_version(session, model=model, version=version)
    latest = _workspace(session, workspace)
    gathered = {latest_row.id: facts for latest_row, facts in latest.values()}
    facts = gathered.get(row.id)
    if facts is None:  # an earlier version: the workspace gathered only the latest ones
        facts = gather_facts(session, model=model, version=row.version, workspace=workspace)
    return _assess(
        session,
        row=row,
        facts=facts,
        workspace_maturity=_maturity(session, latest, now=now, workspace=workspace),
        actor=actor,
        record=record,
        now=now,
    )


def _assess(
    session: Session,
    *,
    row: ModelVersion,
    facts: Facts,
    workspace_maturity: MaturityResult,
    actor: Principal,
    record: bool,
    now: datetime,
) -> ReadinessReport:
    """The report of ``row`` from ``facts``, gathered for it by the caller (once per report)."""
    mts, checklist, _ = rubrics()
    report = build_report(
        facts,
        evidence(session, version_ids=[row.id], routes=[r.name for r in facts.routes]),
        now=now,
        workspace_maturity=workspace_maturity,
        debt=debt_register.registered_items(session, model_id=row.model_id),
        trend=_trend(session, model_id=row.model_id, exclude_version=row.version),
        ml_test_score=mts,
        checklist=checklist,
    )
    if record:
        _record(session, row=row, report=report, actor=actor, now=now)
    return report


def _record(
    session: Session, *, row: ModelVersion, report: ReadinessReport, actor: Principal, now: datetime
) -> None:
    score = report.ml_test_score
    sections = {section.id: section.score for section in score.sections}
    session.add(
        AssessmentSnapshot(
            id=new_id(),
            version_id=row.id,
            assessed_at=now,
            assessed_by=actor.name,
            final=score.final,
            band=score.band,
            sections=sections,
            checklist_met=report.checklist.met,
            checklist_total=report.checklist.total,
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="readiness.assessed",
        object_type="model_version",
        object_id=f"{report.model}@{report.version}",
        change={
            "final": score.final,
            "sections": sections,
            "checklist": f"{report.checklist.met}/{report.checklist.total}",
            "maturity": report.maturity.level,
        },
        now=now,
    )


def assess_all(
    session: Session,
    *,
    actor: Principal,
    record: bool = True,
    now: datetime | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> list[ReadinessReport]:
    """The latest version of every model that has one, in name order."""
    now = now or utcnow()
    latest = _workspace(session, workspace)
    workspace_maturity = _maturity(session, latest, now=now, workspace=workspace)
    return [
        _assess(
            session,
            row=row,
            facts=facts,
            workspace_maturity=workspace_maturity,
            actor=actor,
            record=record,
            now=now,
        )
        for row, facts in latest.values()
    ]


def list_snapshots(session: Session, *, model: str) -> list[SnapshotRead]:
    """Every recorded assessment of the model: a history, in the order they were made.

    (A report's trend is by version instead: the latest recorded score of each version.)
    """
    model_row = registry.get_model(session, name=model)
    rows = session.execute(
        select(AssessmentSnapshot, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == AssessmentSnapshot.version_id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(Model.name == model_row.name)
        .order_by(AssessmentSnapshot.assessed_at, ModelVersion.version)
    ).all()
    return [
        SnapshotRead(
            model=model_row.name,
            version=number,
            assessed_at=snap.assessed_at,
            assessed_by=snap.assessed_by,
            final=snap.final,
            band=snap.band,
            sections=snap.sections,
            checklist_met=snap.checklist_met,
            checklist_total=snap.checklist_total,
        )
        for snap, number in rows
    ]


def maturity(
    session: Session, *, now: datetime | None = None, workspace: str = DEFAULT_WORKSPACE
) -> MaturityResult:
    """The workspace's MLOps level: each observable criterion must hold for every model."""
    return _maturity(
        session, _workspace(session, workspace), now=now or utcnow(), workspace=workspace
    )


def _maturity(
    session: Session,
    latest: Mapping[str, tuple[ModelVersion, Facts]],
    *,
    now: datetime,
    workspace: str,
) -> MaturityResult:
    """The one path to the workspace's maturity, for ``maturity`` and every report alike.

    Evidence: the facts of the latest version of every model, and the attestations given to
    those versions, to the routes that serve them and to the workspace.
    """
    facts = [one for _, one in latest.values()]
    found = evidence(
        session,
        version_ids=[row.id for row, _ in latest.values()],
        routes=[route.name for one in facts for route in one.routes],
    )
    return assess_maturity(rubrics()[2], facts, found, now=now, workspace=workspace)


def checklist_group(
    session: Session, *, model: str, version: int, group: str, now: datetime | None = None
) -> GroupStatus:
    """Whether every item of one checklist group (e.g. ``security``) is satisfied now."""
    now = now or utcnow()
    row = registry.get_version_row(session, model_name=model, version=version)
    facts = gather_facts(session, model=model, version=version)
    found = evidence(session, version_ids=[row.id], routes=[r.name for r in facts.routes])
    return assess_checklist(rubrics()[1], facts, found, now=now).group(group)


def debt_from_assessment(
    session: Session,
    *,
    model: str,
    version: int | None = None,
    owner: str | None = None,
    actor: Principal,
    now: datetime | None = None,
) -> list[DebtRead]:
    """Open one debt item per unmet checklist item of ``model@version`` not already open."""
    now = now or utcnow()
    report = assess(session, model=model, version=version, actor=actor, record=False, now=now)
    row = resolve_version(session, model=model, version=report.version)
    return debt_register.open_from_checklist(
        session,
        checklist=rubrics()[1],
        result=report.checklist,
        version=row,
        model_name=model,
        owner=owner,
        actor=actor,
        now=now,
    )
