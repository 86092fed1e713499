"""Drift over HTTP: a version's reference profile, and a route's drift report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from mlgate.auth.deps import (
    ReadOnlySessionDep,
    RuntimeDep,
    SessionDep,
    VersionNumber,
    require_scope,
)
from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.incidents.schemas import IncidentRead
from mlgate.monitoring import drift_page, service
from mlgate.monitoring.schemas import DriftReferenceCreate, DriftReferenceRead, DriftReport
from mlgate.monitoring.traffic import parse_window

router = APIRouter(tags=["drift"])
RegistryReader = Annotated[Principal, Depends(require_scope("registry:read"))]
RegistryWriter = Annotated[Principal, Depends(require_scope("registry:write"))]
RoutesReader = Annotated[Principal, Depends(require_scope("routes:read"))]
IncidentsWriter = Annotated[Principal, Depends(require_scope("incidents:write"))]
Since = Annotated[
    str | None,
    Query(description="ISO-8601, or a duration before `until` (30m, 1h, 7d); default 24h."),
]
Until = Annotated[str | None, Query(description="ISO-8601, or a duration before now; default now.")]
Threshold = Annotated[float, Query(gt=0, description="A feature drifts when its PSI reaches this.")]
Share = Annotated[
    float, Query(gt=0, le=1, description="A version drifts when this share of features do.")
]
MinRows = Annotated[int, Query(ge=1, description="Fewer served rows than this are not judged.")]
REFERENCE = "/api/v1/models/{model}/versions/{version}/drift-reference"


@router.put(REFERENCE, response_model=DriftReferenceRead)
def set_reference(
    model: str,
    version: VersionNumber,
    reference_in: DriftReferenceCreate,
    session: SessionDep,
    actor: RegistryWriter,
) -> DriftReferenceRead:
    """Profile reference rows (e.g. the validation set) as the version's drift baseline."""
    return service.set_reference(
        session, model_name=model, version=version, reference_in=reference_in, actor=actor
    )


@router.get(REFERENCE, response_model=DriftReferenceRead)
def get_reference(
    model: str, version: VersionNumber, session: ReadOnlySessionDep, actor: RegistryReader
) -> DriftReferenceRead:
    return service.get_reference(session, model_name=model, version=version)


@dataclass(frozen=True, slots=True)
class DriftRules:
    """A report's window and rules, as the query string gives them."""

    since: datetime
    until: datetime
    threshold: float
    drift_share: float
    min_rows: int


def drift_rules(
    since: Since = None,
    until: Until = None,
    threshold: Threshold = service.DEFAULT_THRESHOLD,
    drift_share: Share = service.DEFAULT_DRIFT_SHARE,
    min_rows: MinRows = service.DEFAULT_MIN_ROWS,
) -> DriftRules:
    start, end = parse_window(since or "24h", until, now=utcnow())
    return DriftRules(start, end, threshold, drift_share, min_rows)


Rules = Annotated[DriftRules, Depends(drift_rules)]


def _report(session: Session, name: str, rules: DriftRules) -> DriftReport:
    return service.build_drift_report(
        session,
        route=name,
        since=rules.since,
        until=rules.until,
        threshold=rules.threshold,
        drift_share=rules.drift_share,
        min_rows=rules.min_rows,
    )


@router.get("/api/v1/routes/{name}/drift", response_model=DriftReport)
def route_drift(
    name: str, session: ReadOnlySessionDep, actor: RoutesReader, rules: Rules
) -> DriftReport:
    """How the inputs the route served compare with each version's reference."""
    return _report(session, name, rules)


@router.get("/api/v1/routes/{name}/drift.html", response_class=HTMLResponse)
def route_drift_page(
    name: str, session: ReadOnlySessionDep, actor: RoutesReader, rules: Rules
) -> HTMLResponse:
    """The drift report as a self-contained HTML page (inline SVG charts, no scripts)."""
    return HTMLResponse(drift_page.render(_report(session, name, rules)))


@router.post("/api/v1/routes/{name}/drift/incidents", response_model=list[IncidentRead])
def open_drift_incidents(
    name: str, session: SessionDep, runtime: RuntimeDep, actor: IncidentsWriter, rules: Rules
) -> list[IncidentRead]:
    """Open (or join) an incident for each drifting version."""
    report = _report(session, name, rules)
    return service.open_drift_incidents(
        session,
        report=report,
        actor=actor,
        threshold_minutes=runtime.settings.incident_postmortem_minutes,
    )
