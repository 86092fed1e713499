"""The approval workflow: request, decide stage by stage, request changes, resubmit.

    pending(stage i) --approve--> pending(stage i+1) ... --approve last--> approved
    pending --reject--> rejected          pending --request changes--> needs_revision
    needs_revision --resubmit--> pending(stage 0), a new round

Approved and rejected are terminal. What must stay true:
- the requester never decides their own request; a reviewer approves at most one stage per
  round unless the policy allows it; only a reviewer the stage names (scope, group) decides it;
- a stage is approved only while its gate checks pass (checked when it opens and again now);
- every transition is one decision row, one audit entry and one outbox event, in one
  transaction; of two concurrent decisions on a request exactly one wins (optimistic lock).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from mlgate.approvals import gates, outbox, readmodel
from mlgate.approvals.models import ApprovalDecision, ApprovalRequest
from mlgate.approvals.policy import effective_policy, review_refusal
from mlgate.approvals.schemas import (
    ApprovalRequestRead,
    DecisionKind,
    GateResult,
    PolicyDocument,
    RequestState,
    StagePolicy,
)
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal, person
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Forbidden
from mlgate.ids import new_id
from mlgate.registry import service as registry

__all__ = [
    "GateFailed",
    "approve",
    "count_requests",
    "evaluate_gates",
    "get",
    "get_for_version",
    "list_requests",
    "queue",
    "reject",
    "request_changes",
    "request_review",
    "resubmit",
]

# The read side lives in readmodel; these names stay importable from the service.
MAX_PAGE = readmodel.MAX_PAGE
get = readmodel.get
get_for_version = readmodel.get_for_version
list_requests = readmodel.list_requests
count_requests = readmodel.count_requests
queue = readmodel.queue
P = ParamSpec("P")
R = TypeVar("R")


def _one_winner(decide: Callable[P, R]) -> Callable[P, R]:
    """Turn a lost race (the optimistic lock or a unique decision seq) into a 409."""

    @functools.wraps(decide)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return decide(*args, **kwargs)
        except (StaleDataError, IntegrityError) as error:
            raise Conflict(
                "the approval request was decided concurrently; reload it and try again"
            ) from error

    return wrapper


class GateFailed(Conflict):
    """409 whose problem lists the failed checks, so a client can show each reason."""

    def __init__(self, stage: str, failed: list[GateResult]) -> None:
        reasons = "; ".join(f"{r.check}: {r.reason}" for r in failed)
        super().__init__(f"stage '{stage}' cannot be approved, gate checks failed: {reasons}")
        self.failed = failed

    def problem(self) -> dict[str, Any]:
        body = super().problem()
        body["failed_checks"] = [r.model_dump() for r in self.failed]
        return body


def _run_gates(session: Session, row: ApprovalRequest, stage: StagePolicy) -> list[GateResult]:
    model_name, version = readmodel.names_of(session, row)
    return gates.run_gates(session, model_name=model_name, version=version, specs=stage.gates)


def _transition(
    session: Session,
    row: ApprovalRequest,
    *,
    kind: DecisionKind,
    action: str,
    actor: Principal,
    comment: str,
    stage_index: int | None,
    now: datetime,
) -> None:
    """Record one transition: the decision row, the audit entry, the outbox event."""
    policy = readmodel.policy_of(row)
    stage_name = policy.stages[stage_index].name if stage_index is not None else None
    row.updated_at = now
    session.flush()  # the optimistic lock is checked here; a lost race raises StaleDataError
    seq = (
        session.scalar(
            select(func.count())
            .select_from(ApprovalDecision)
            .where(ApprovalDecision.request_id == row.id)
        )
        or 0
    ) + 1
    session.add(
        ApprovalDecision(
            id=new_id(),
            request_id=row.id,
            seq=seq,
            round=row.round,
            stage_index=stage_index,
            stage=stage_name,
            kind=kind.value,
            actor=actor.name,
            comment=comment,
            created_at=now,
        )
    )
    session.flush()
    model_name, version = readmodel.names_of(session, row)
    opened = (
        policy.stages[row.stage_index].name if row.state == RequestState.PENDING.value else None
    )
    change = {
        "model": model_name,
        "version": version.version,
        "decision": kind.value,
        "stage": stage_name,
        "state": row.state,
        "open_stage": opened,
        "round": row.round,
        "comment": comment,
    }
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="approval_request",
        object_id=row.id,
        change=change,
        now=now,
    )
    outbox.emit(
        session,
        event_type=action,
        subject=f"{model_name}@{version.version}",
        payload={
            "request_id": row.id,
            "actor": actor.name,
            "gate_results": row.gate_results,
            **change,
        },
        now=now,
    )


def _open_stage(session: Session, row: ApprovalRequest, index: int) -> None:
    row.stage_index = index
    results = _run_gates(session, row, readmodel.policy_of(row).stages[index])
    row.gate_results = [r.model_dump() for r in results]


def request_review(
    session: Session,
    *,
    model_name: str,
    version: int,
    requester: Principal,
    comment: str = "",
    now: datetime | None = None,
) -> ApprovalRequestRead:
    """Open a request for ``model_name@version`` under the model's effective policy."""
    now = now or utcnow()
    version_row = registry.get_version_row(session, model_name=model_name, version=version)
    existing = session.scalars(
        select(ApprovalRequest).where(ApprovalRequest.version_id == version_row.id)
    ).one_or_none()
    if existing is not None:
        raise Conflict(
            f"{model_name}@{version} already has a review ({existing.state}); "
            f"see `mlgate review show {model_name}@{version}`"
        )
    policy = effective_policy(session, model_name=model_name)
    row = ApprovalRequest(
        id=new_id(),
        model_id=version_row.model_id,
        version_id=version_row.id,
        state=RequestState.PENDING.value,
        stage_index=0,
        round=1,
        requester=requester.name,
        policy_subject=policy.subject,
        policy_version=policy.version,
        policy=policy.document.model_dump(mode="json"),
        gate_results=[],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(f"{model_name}@{version} was submitted for review concurrently") from error
    _open_stage(session, row, 0)
    version_row.status = "in_review"
    _transition(
        session,
        row,
        kind=DecisionKind.SUBMITTED,
        action="approval.requested",
        actor=requester,
        comment=comment,
        stage_index=None,
        now=now,
    )
    return readmodel.read(session, row)


def _decidable(
    session: Session, row: ApprovalRequest, reviewer: Principal, stage: str | None
) -> tuple[PolicyDocument, StagePolicy]:
    """The open stage, if ``reviewer`` may decide it now; raise saying why not otherwise."""
    state = RequestState(row.state)
    if state != RequestState.PENDING:
        raise Conflict(f"approval request '{row.id}' is {state.value}; nothing to decide")
    policy = readmodel.policy_of(row)
    current = policy.stages[row.stage_index]
    if stage is not None and stage != current.name:
        raise Conflict(
            f"stage '{stage}' is not open; the open stage is '{current.name}' "
            "(it may have been decided a moment ago)"
        )
    if person(reviewer.name) == person(row.requester):
        raise Forbidden("you requested this review; another reviewer must decide it")
    refusal = review_refusal(current, reviewer)
    if refusal:
        raise Forbidden(refusal)
    return policy, current


@_one_winner
def approve(
    session: Session,
    *,
    request_id: str,
    reviewer: Principal,
    comment: str,
    stage: str | None = None,
    now: datetime | None = None,
) -> ApprovalRequestRead:
    now = now or utcnow()
    row = readmodel.request_row(session, request_id)
    policy, current = _decidable(session, row, reviewer, stage)
    if not policy.allow_same_reviewer_across_stages:
        approvers = readmodel.approvers_of(readmodel.decisions_of(session, row), row.round)
        if person(reviewer.name) in {person(name) for name in approvers.values()}:
            raise Forbidden(
                "you already approved another stage of this request; the policy requires a "
                "different reviewer for each stage"
            )
    results = _run_gates(session, row, current)
    failed = [r for r in results if not r.passed]
    if failed:
        raise GateFailed(current.name, failed)
    decided = row.stage_index
    if decided + 1 < len(policy.stages):
        _open_stage(session, row, decided + 1)
        action = "approval.stage_approved"
    else:
        row.state = RequestState.APPROVED.value
        row.gate_results = [r.model_dump() for r in results]
        readmodel.names_of(session, row)[1].status = "approved"
        action = "approval.approved"
    _transition(
        session,
        row,
        kind=DecisionKind.APPROVED,
        action=action,
        actor=reviewer,
        comment=comment,
        stage_index=decided,
        now=now,
    )
    return readmodel.read(session, row)


def _end_round(
    session: Session,
    *,
    request_id: str,
    reviewer: Principal,
    comment: str,
    stage: str | None,
    now: datetime | None,
    state: RequestState,
    kind: DecisionKind,
    action: str,
    version_status: str | None = None,
) -> ApprovalRequestRead:
    """A reviewer's decision that ends the current round: reject or request changes."""
    now = now or utcnow()
    row = readmodel.request_row(session, request_id)
    _decidable(session, row, reviewer, stage)
    row.state = state.value
    if version_status is not None:
        readmodel.names_of(session, row)[1].status = version_status
    _transition(
        session,
        row,
        kind=kind,
        action=action,
        actor=reviewer,
        comment=comment,
        stage_index=row.stage_index,
        now=now,
    )
    return readmodel.read(session, row)


@_one_winner
def reject(
    session: Session,
    *,
    request_id: str,
    reviewer: Principal,
    comment: str,
    stage: str | None = None,
    now: datetime | None = None,
) -> ApprovalRequestRead:
    """Reject the request: terminal, and the version's status becomes ``rejected``."""
    return _end_round(
        session,
        request_id=request_id,
        reviewer=reviewer,
        comment=comment,
        stage=stage,
        now=now,
        state=RequestState.REJECTED,
        kind=DecisionKind.REJECTED,
        action="approval.rejected",
        version_status="rejected",
    )


@_one_winner
def request_changes(
    session: Session,
    *,
    request_id: str,
    reviewer: Principal,
    comment: str,
    stage: str | None = None,
    now: datetime | None = None,
) -> ApprovalRequestRead:
    """Send the request back to its requester (``needs_revision``) until it is resubmitted."""
    return _end_round(
        session,
        request_id=request_id,
        reviewer=reviewer,
        comment=comment,
        stage=stage,
        now=now,
        state=RequestState.NEEDS_REVISION,
        kind=DecisionKind.CHANGES_REQUESTED,
        action="approval.changes_requested",
    )


@_one_winner
def resubmit(
    session: Session,
    *,
    request_id: str,
    requester: Principal,
    comment: str,
    now: datetime | None = None,
) -> ApprovalRequestRead:
    """Send a request that needs revision back to the first stage, as a new round."""
    now = now or utcnow()
    row = readmodel.request_row(session, request_id)
    if row.state != RequestState.NEEDS_REVISION.value:
        raise Conflict(
            f"approval request '{row.id}' is {row.state}; only a request that needs "
            "revision can be resubmitted"
        )
    if requester.name != row.requester and not requester.is_admin:
        raise Forbidden(f"only the requester ({row.requester}) or an admin may resubmit")
    row.state = RequestState.PENDING.value
    row.round += 1
    _open_stage(session, row, 0)
    _transition(
        session,
        row,
        kind=DecisionKind.RESUBMITTED,
        action="approval.resubmitted",
        actor=requester,
        comment=comment,
        stage_index=None,
        now=now,
    )
    return readmodel.read(session, row)


def evaluate_gates(session: Session, *, request_id: str) -> list[GateResult]:
    """The open stage's gate checks as they stand now (read only)."""
    row = readmodel.request_row(session, request_id)
    if row.state != RequestState.PENDING.value:
        raise Conflict(f"approval request '{row.id}' is {row.state}; no stage is open")
    return _run_gates(session, row, readmodel.policy_of(row).stages[row.stage_index])
