"""Approval requests as readers see them: one request, a model's list, a reviewer's queue.

The write side (``service``) shares these helpers; nothing here changes state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from mlgate.approvals.models import ApprovalDecision, ApprovalRequest
from mlgate.approvals.policy import review_refusal
from mlgate.approvals.schemas import (
    ApprovalRequestRead,
    DecisionKind,
    DecisionRead,
    GateResult,
    PolicyDocument,
    RequestState,
    StageRead,
)
from mlgate.auth.schemas import Principal, person
from mlgate.errors import NotFound
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion

__all__ = [
    "MAX_PAGE",
    "approvers_of",
    "count_requests",
    "decisions_of",
    "get",
    "get_for_version",
    "list_requests",
    "names_of",
    "policy_of",
    "queue",
    "read",
    "request_row",
]

MAX_PAGE = 500


def policy_of(row: ApprovalRequest) -> PolicyDocument:
    return PolicyDocument.model_validate(row.policy)


def names_of(session: Session, row: ApprovalRequest) -> tuple[str, ModelVersion]:
    version = session.get(ModelVersion, row.version_id)
    model = session.get(Model, row.model_id)
    assert version is not None
    assert model is not None
    return model.name, version


def decisions_of(session: Session, row: ApprovalRequest) -> list[ApprovalDecision]:
    return list(
        session.scalars(
            select(ApprovalDecision)
            .where(ApprovalDecision.request_id == row.id)
            .order_by(ApprovalDecision.seq)
        )
    )


def approvers_of(decisions: list[ApprovalDecision], round_: int) -> dict[int, str]:
    """Stage index -> who approved it, in the given round."""
    return {
        d.stage_index: d.actor
        for d in decisions
        if d.round == round_ and d.kind == DecisionKind.APPROVED and d.stage_index is not None
    }


def read(session: Session, row: ApprovalRequest) -> ApprovalRequestRead:
    model_name, version = names_of(session, row)
    policy = policy_of(row)
    decisions = decisions_of(session, row)
    approvers = approvers_of(decisions, row.round)
    state = RequestState(row.state)
    stages = []
    for index, stage in enumerate(policy.stages):
        if index in approvers:
            status = "approved"
        elif state == RequestState.PENDING and index == row.stage_index:
            status = "open"
        else:
            status = "waiting"
        stages.append(
            StageRead(
                index=index,
                name=stage.name,
                title=stage.title,
                reviewer_groups=stage.reviewer_groups,
                status=status,
                approved_by=approvers.get(index),
            )
        )
    return ApprovalRequestRead(
        id=row.id,
        model=model_name,
        version=version.version,
        state=state,
        stage_index=row.stage_index,
        current_stage=(
            policy.stages[row.stage_index].name if state == RequestState.PENDING else None
        ),
        round=row.round,
        requester=row.requester,
        policy_subject=row.policy_subject,
        policy_version=row.policy_version,
        stages=stages,
        gate_results=[GateResult.model_validate(r) for r in row.gate_results],
        decisions=[DecisionRead.model_validate(d) for d in decisions],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def request_row(session: Session, request_id: str) -> ApprovalRequest:
    row = session.get(ApprovalRequest, request_id)
    if row is None:
        raise NotFound(f"approval request '{request_id}' does not exist; see `mlgate review queue`")
    return row


def get(session: Session, *, request_id: str) -> ApprovalRequestRead:
    return read(session, request_row(session, request_id))


def get_for_version(session: Session, *, model_name: str, version: int) -> ApprovalRequestRead:
    version_row = registry.get_version_row(session, model_name=model_name, version=version)
    row = session.scalars(
        select(ApprovalRequest).where(ApprovalRequest.version_id == version_row.id)
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"{model_name}@{version} has no review; request one with "
            f"`mlgate review request {model_name}@{version}`"
        )
    return read(session, row)


def _filtered(
    session: Session, query: Select[Any], state: RequestState | None, model_name: str | None
) -> Select[Any]:
    if state is not None:
        query = query.where(ApprovalRequest.state == state.value)
    if model_name:
        model = registry.get_model(session, name=model_name)
        query = query.join(Model, Model.id == ApprovalRequest.model_id).where(
            Model.name == model.name
        )
    return query


def list_requests(
    session: Session,
    *,
    state: RequestState | None = None,
    model_name: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[ApprovalRequestRead]:
    query = select(ApprovalRequest).order_by(ApprovalRequest.created_at, ApprovalRequest.id)
    query = _filtered(session, query, state, model_name)
    rows = session.scalars(query.limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset)))
    return [read(session, row) for row in rows]


def count_requests(
    session: Session, *, state: RequestState | None = None, model_name: str | None = None
) -> int:
    """How many requests ``list_requests`` pages through with the same filters."""
    query = _filtered(session, select(func.count(ApprovalRequest.id)), state, model_name)
    return session.scalar(query) or 0


def queue(session: Session, *, reviewer: Principal) -> list[ApprovalRequestRead]:
    """Pending requests whose open stage ``reviewer`` may decide now."""
    rows = session.scalars(
        select(ApprovalRequest)
        .where(ApprovalRequest.state == RequestState.PENDING.value)
        .order_by(ApprovalRequest.updated_at, ApprovalRequest.id)
    )
    mine = []
    for row in rows:
        policy = policy_of(row)
        stage = policy.stages[row.stage_index]
        if person(row.requester) == person(reviewer.name) or review_refusal(stage, reviewer):
            continue
        if not policy.allow_same_reviewer_across_stages and person(reviewer.name) in {
            person(n) for n in approvers_of(decisions_of(session, row), row.round).values()
        }:
            continue
        mine.append(read(session, row))
    return mine
