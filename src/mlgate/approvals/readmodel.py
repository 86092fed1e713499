"""Approval requests as readers see them: one request, a model's list, a reviewer's queue.

The write side (``service``) shares these helpers; nothing here changes state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, false, func, or_, select, union
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
    StagePolicy,
    StageRead,
)
from mlgate.auth.schemas import Principal, person
from mlgate.errors import NotFound
from mlgate.registry import service as registry
from mlgate.registry.models import Model, ModelVersion
from mlgate.registry.schemas import Page

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


def _open_stage(session: Session) -> ColumnElement[str]:
    """A request's open stage as JSON text, taken from its policy snapshot in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.jsonb_extract_path_text(
            ApprovalRequest.policy, "stages", cast(ApprovalRequest.stage_index, String)
        )
    path = "$.stages[" + cast(ApprovalRequest.stage_index, String) + "]"
    return func.json_extract(ApprovalRequest.policy, path, type_=String)


def queue(
    session: Session, *, reviewer: Principal, limit: int = 50, offset: int = 0
) -> Page[ApprovalRequestRead]:
    """Pending requests whose open stage ``reviewer`` may approve now, oldest request first.

    SQL filters, counts and pages, so a page never loads the rest of the queue. The rules stay
    in Python, the ones ``service.approve`` enforces (``_decidable``: ``review_refusal`` for the
    open stage, ``person`` for the requester; and no second stage by one approver unless the
    policy allows it, a rule of approving only: a reviewer may still reject or send back a
    request it hides): they are asked about the few distinct values the pending requests hold
    (open stages; names of requesters and of this round's approvers), and SQL filters by the
    answers, so a page holds what the rules allow. A rule added to ``approve`` must be added
    here too. The statements are separate: a request opened or decided between them (or
    between two pages) can shift a page by one or disagree with ``total`` by one, as any
    offset paging does.
    """
    limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
    pending = ApprovalRequest.state == RequestState.PENDING.value
    open_stage = _open_stage(session)
    stages = session.scalars(select(open_stage).where(pending).distinct())
    decidable = [
        text
        for text in stages
        if text is not None
        and review_refusal(StagePolicy.model_validate_json(text), reviewer) is None
    ]
    if not decidable:
        return Page[ApprovalRequestRead](items=[], total=0, limit=limit, offset=offset)
    approvals = select(ApprovalDecision.actor).where(
        ApprovalDecision.request_id == ApprovalRequest.id,
        ApprovalDecision.round == ApprovalRequest.round,
        ApprovalDecision.kind == DecisionKind.APPROVED.value,
        ApprovalDecision.stage_index.is_not(None),
    )
    names = session.scalars(
        union(select(ApprovalRequest.requester).where(pending), approvals.where(pending))
    )
    me = {reviewer.name, *(name for name in names if person(name) == person(reviewer.name))}
    same_reviewer_allowed = ApprovalRequest.policy["allow_same_reviewer_across_stages"]
    mine = (
        pending,
        open_stage.in_(decidable),
        ApprovalRequest.requester.not_in(me),
        or_(
            func.coalesce(same_reviewer_allowed.as_boolean(), false()),
            ~approvals.where(ApprovalDecision.actor.in_(me)).exists(),
        ),
    )
    total = session.scalar(select(func.count(ApprovalRequest.id)).where(*mine)) or 0
    rows = session.scalars(
        select(ApprovalRequest)
        .where(*mine)
        .order_by(ApprovalRequest.created_at, ApprovalRequest.id)
        .limit(limit)
        .offset(offset)
    )
    items = [read(session, row) for row in rows]
    return Page[ApprovalRequestRead](items=items, total=total, limit=limit, offset=offset)
