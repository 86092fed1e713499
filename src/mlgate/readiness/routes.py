"""Readiness over HTTP: reports, assessments, attestations, maturity and the debt register."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

import mlgate.readiness.gates  # noqa: F401  # registers the readiness:<group> approval gates
from mlgate.auth.deps import SessionDep, VersionNumber, require_scope
from mlgate.auth.schemas import Principal
from mlgate.readiness import debt_register, service
from mlgate.readiness.facts import Facts
from mlgate.readiness.maturity import MaturityResult
from mlgate.readiness.providers import gather_facts
from mlgate.readiness.report import ReadinessReport
from mlgate.readiness.schemas import (
    AttestationCreate,
    AttestationRead,
    DebtClose,
    DebtCreate,
    DebtFromAssessment,
    DebtRead,
    SnapshotRead,
)

router = APIRouter(prefix="/api/v1/readiness", tags=["readiness"])
Reader = Annotated[Principal, Depends(require_scope("readiness:read"))]
Writer = Annotated[Principal, Depends(require_scope("readiness:write"))]
Format = Literal["json", "md", "html"]
VERSION = "/models/{model}/versions/{version}"


def _render(report: ReadinessReport, fmt: Format) -> Response:
    if fmt == "html":
        return HTMLResponse(report.to_html())
    if fmt == "md":
        return PlainTextResponse(report.to_markdown(), media_type="text/markdown")
    return Response(report.to_json(), media_type="application/json")


@router.get(
    VERSION + "/report",
    response_model=ReadinessReport,
    responses={200: {"content": {"text/html": {}, "text/markdown": {}}}},
)
def report(
    model: str, version: VersionNumber, session: SessionDep, actor: Reader, format: Format = "json"
) -> Response:
    """The version's readiness now, as JSON, Markdown or a self-contained HTML page."""
    assessed = service.assess(session, model=model, version=version, actor=actor, record=False)
    return _render(assessed, format)


@router.post(VERSION + "/assessments", status_code=201, response_model=ReadinessReport)
def record_assessment(
    model: str, version: VersionNumber, session: SessionDep, actor: Writer
) -> ReadinessReport:
    """Assess the version and keep its scores for the trend across versions."""
    return service.assess(session, model=model, version=version, actor=actor, record=True)


@router.get("/models/{model}/assessments", response_model=list[SnapshotRead])
def list_assessments(model: str, session: SessionDep, actor: Reader) -> list[SnapshotRead]:
    """Every recorded assessment, in the order made; a report's trend is by version."""
    return service.list_snapshots(session, model=model)


@router.get(VERSION + "/facts", response_model=Facts)
def facts(model: str, version: VersionNumber, session: SessionDep, actor: Reader) -> Facts:
    """What mlgate knows about the version; ``null`` means nobody could tell."""
    return gather_facts(session, model=model, version=version)


@router.post(VERSION + "/attestations", status_code=201, response_model=AttestationRead)
def attest_version(
    model: str,
    version: VersionNumber,
    attestation_in: AttestationCreate,
    session: SessionDep,
    actor: Writer,
) -> AttestationRead:
    return service.attest(
        session, attestation_in=attestation_in, actor=actor, model=model, version=version
    )


@router.get(VERSION + "/attestations", response_model=list[AttestationRead])
def list_version_attestations(
    model: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> list[AttestationRead]:
    return service.list_attestations(session, model=model, version=version)


@router.post("/routes/{route}/attestations", status_code=201, response_model=AttestationRead)
def attest_route(
    route: str, attestation_in: AttestationCreate, session: SessionDep, actor: Writer
) -> AttestationRead:
    return service.attest(session, attestation_in=attestation_in, actor=actor, route=route)


@router.get("/routes/{route}/attestations", response_model=list[AttestationRead])
def list_route_attestations(
    route: str, session: SessionDep, actor: Reader
) -> list[AttestationRead]:
    return service.list_attestations(session, route=route)


@router.post("/attestations", status_code=201, response_model=AttestationRead)
def attest_workspace(
    attestation_in: AttestationCreate, session: SessionDep, actor: Writer
) -> AttestationRead:
    """An attestation for the whole workspace (e.g. 'experiments are tracked')."""
    return service.attest(session, attestation_in=attestation_in, actor=actor)


@router.get("/attestations", response_model=list[AttestationRead])
def list_attestations(
    session: SessionDep, actor: Reader, include_expired: bool = True
) -> list[AttestationRead]:
    return service.list_attestations(session, include_expired=include_expired)


@router.get("/maturity", response_model=MaturityResult)
def maturity(session: SessionDep, actor: Reader) -> MaturityResult:
    """The workspace's MLOps maturity level over the latest version of every model."""
    return service.maturity(session)


@router.get("/debt", response_model=list[DebtRead])
def list_debt(
    session: SessionDep,
    actor: Reader,
    model: str | None = None,
    include_closed: Annotated[bool, Query(description="Also resolved and accepted items.")] = False,
) -> list[DebtRead]:
    """The debt register, prioritised: quick wins first, overdue items flagged."""
    return debt_register.list_debt(session, model=model, include_closed=include_closed)


@router.post("/debt", status_code=201, response_model=DebtRead)
def create_debt(debt_in: DebtCreate, session: SessionDep, actor: Writer) -> DebtRead:
    return debt_register.create_debt(session, debt_in=debt_in, actor=actor)


@router.get("/debt/{debt_id}", response_model=DebtRead)
def show_debt(debt_id: str, session: SessionDep, actor: Reader) -> DebtRead:
    return debt_register.get_debt(session, debt_id=debt_id)


@router.post("/debt/{debt_id}/close", response_model=DebtRead)
def close_debt(debt_id: str, close_in: DebtClose, session: SessionDep, actor: Writer) -> DebtRead:
    return debt_register.close_debt(session, debt_id=debt_id, close_in=close_in, actor=actor)


@router.post(VERSION + "/debt", status_code=201, response_model=list[DebtRead])
def debt_from_assessment(
    model: str, version: VersionNumber, body: DebtFromAssessment, session: SessionDep, actor: Writer
) -> list[DebtRead]:
    """Open a debt item for every unmet checklist item not already tracked."""
    return service.debt_from_assessment(
        session, model=model, version=version, owner=body.owner, actor=actor
    )
