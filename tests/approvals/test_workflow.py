"""The approval state machine through the service, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mlgate.approvals import policy, service
from mlgate.approvals.models import ApprovalDecision
from mlgate.approvals.schemas import RequestState
from mlgate.audit import service as audit
from mlgate.audit.models import AuditEntry
from mlgate.errors import Conflict, Forbidden
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from tests.approvals.conftest import ADMIN, REQUESTER, VersionFactory, reviewer, simple_policy

DATA = reviewer("dana", "data")
SEC = reviewer("sam", "security")
ANY = reviewer("avery")


def _request(runtime: Runtime, name: str, number: int) -> str:
    with runtime.db.unit_of_work() as session:
        return service.request_review(
            session, model_name=name, version=number, requester=REQUESTER, comment="please"
        ).id


def test_three_stages_approved_by_distinct_reviewers_approve_the_version(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.approve(session, request_id=request_id, reviewer=DATA, comment="data ok")
        service.approve(session, request_id=request_id, reviewer=SEC, comment="no findings")
        done = service.approve(session, request_id=request_id, reviewer=ANY, comment="ship it")
        version = registry.get_version(session, model_name=name, version=number)
    assert done.state == RequestState.APPROVED
    assert [s.approved_by for s in done.stages] == ["dana", "sam", "avery"]
    assert version.status == "approved"
    assert [d.kind.value for d in done.decisions] == [
        "submitted",
        "approved",
        "approved",
        "approved",
    ]
    with runtime.db.unit_of_work() as session:
        actions = [e.action for e in audit.get_all(session, object_id=request_id)]
        assert audit.verify(session).ok
    assert actions == [
        "approval.requested",
        "approval.stage_approved",
        "approval.stage_approved",
        "approval.approved",
    ]


def test_requester_cannot_approve_own_request(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    requester_as_reviewer = reviewer(REQUESTER.name, "data")
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden, match="requested"):
        service.approve(session, request_id=request_id, reviewer=requester_as_reviewer, comment="x")


def test_one_person_is_one_person_whatever_the_case_or_width_of_the_owner(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    """Owners made before owners were trimmed, or that the store's ASCII-only lower() let
    through ('ÉMILE' beside 'émile' on SQLite), are still one person to separation of duties."""
    name, number = make_version()
    request_id = _request(runtime, name, number)
    shouted = reviewer(f" {REQUESTER.name.upper()} ", "data")
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden, match="requested"):
        service.approve(session, request_id=request_id, reviewer=shouted, comment="x")
    with runtime.db.unit_of_work() as session:
        service.approve(
            session, request_id=request_id, reviewer=reviewer("émile", "data"), comment="ok"
        )
    wide = reviewer("\uff25\u0301MILE", "security")  # full-width E, combining acute: ÉMILE
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden, match="different"):
        service.approve(session, request_id=request_id, reviewer=wide, comment="sec ok")


def test_one_reviewer_cannot_approve_two_stages_unless_the_policy_allows(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    both = reviewer("bo", "data", "security")
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.approve(session, request_id=request_id, reviewer=both, comment="data ok")
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden, match="different"):
        service.approve(session, request_id=request_id, reviewer=both, comment="sec ok")

    lenient = simple_policy(("a", ["data"], []), ("b", ["security"], []), allow_same=True)
    name, number = make_version(policy_doc=lenient)
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.approve(session, request_id=request_id, reviewer=both, comment="a")
        done = service.approve(session, request_id=request_id, reviewer=both, comment="b")
    assert done.state == RequestState.APPROVED


def test_reviewer_outside_the_stage_group_is_refused(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden, match="member of: data"):
        service.approve(session, request_id=request_id, reviewer=SEC, comment="x")
    no_scope = reviewer("nina", "data", scopes=("registry:read",))
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden, match="scope"):
        service.reject(session, request_id=request_id, reviewer=no_scope, comment="x")


def test_failed_gate_blocks_approval_and_lists_the_check(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version(input_schema=False)
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        opened = service.get(session, request_id=request_id)
    assert [(g.check, g.passed) for g in opened.gate_results] == [("input_schema_declared", False)]
    with runtime.db.unit_of_work() as session, pytest.raises(service.GateFailed) as caught:
        service.approve(session, request_id=request_id, reviewer=DATA, comment="x")
    assert caught.value.status == 409
    assert caught.value.problem()["failed_checks"][0]["check"] == "input_schema_declared"
    # Rejecting needs no passing gate.
    with runtime.db.unit_of_work() as session:
        rejected = service.reject(
            session, request_id=request_id, reviewer=DATA, comment="no schema"
        )
        assert registry.get_version(session, model_name=name, version=number).status == "rejected"
    assert rejected.state == RequestState.REJECTED


def test_request_changes_then_resubmit_restarts_at_the_first_stage_in_a_new_round(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.approve(session, request_id=request_id, reviewer=DATA, comment="ok")
        back = service.request_changes(
            session, request_id=request_id, reviewer=SEC, comment="pin deps"
        )
        assert back.state == RequestState.NEEDS_REVISION
        with pytest.raises(Conflict):
            service.approve(session, request_id=request_id, reviewer=SEC, comment="x")
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden):
        service.resubmit(session, request_id=request_id, requester=ANY, comment="x")
    with runtime.db.unit_of_work() as session:
        again = service.resubmit(
            session, request_id=request_id, requester=REQUESTER, comment="pinned"
        )
    assert (again.state, again.current_stage, again.round) == (
        RequestState.PENDING,
        "data-review",
        2,
    )
    assert all(s.approved_by is None for s in again.stages)  # earlier round's approvals lapse
    with runtime.db.unit_of_work() as session:
        # dana approved in round 1; in round 2 she may approve again (one stage per round).
        service.approve(session, request_id=request_id, reviewer=DATA, comment="still ok")


def test_approved_and_rejected_are_terminal(runtime: Runtime, make_version: VersionFactory) -> None:
    single = simple_policy(("only", [], []))
    name, number = make_version(policy_doc=single)
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.approve(session, request_id=request_id, reviewer=ANY, comment="ok")
    for decide in (service.approve, service.reject, service.request_changes):
        with runtime.db.unit_of_work() as session, pytest.raises(Conflict, match="approved"):
            decide(session, request_id=request_id, reviewer=SEC, comment="late")
    with runtime.db.unit_of_work() as session, pytest.raises(Conflict, match="already has"):
        service.request_review(session, model_name=name, version=number, requester=REQUESTER)


def test_a_stage_named_in_the_decision_that_is_no_longer_open_is_a_conflict(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.approve(session, request_id=request_id, reviewer=DATA, comment="ok")
    with runtime.db.unit_of_work() as session, pytest.raises(Conflict, match="not open"):
        service.approve(
            session, request_id=request_id, reviewer=ANY, comment="ok", stage="data-review"
        )


def test_a_request_keeps_the_policy_version_it_was_opened_under(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        policy.set_policy(
            session, subject=name, document=simple_policy(("solo", [], [])), actor=ADMIN
        )
        versions = policy.list_policy_versions(session, subject=name)
        request = service.get(session, request_id=request_id)
    assert [v.version for v in versions] == [1, 2]
    assert (request.policy_version, len(request.stages)) == (1, 3)
    name2, number2 = make_version(name, policy_doc=None)
    new_request = _request(runtime, name2, number2)
    with runtime.db.unit_of_work() as session:
        assert service.get(session, request_id=new_request).policy_version == 2


def test_queue_shows_only_what_the_reviewer_may_decide(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        assert [r.id for r in service.queue(session, reviewer=DATA).items] == [request_id]
        assert service.queue(session, reviewer=SEC).items == []
        assert service.queue(session, reviewer=reviewer(REQUESTER.name, "data")).items == []


def test_every_transition_writes_one_decision_one_audit_entry_and_one_event(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    from mlgate.approvals.models import OutboxEvent

    name, number = make_version()
    request_id = _request(runtime, name, number)
    with runtime.db.unit_of_work() as session:
        service.request_changes(session, request_id=request_id, reviewer=DATA, comment="more")
        service.resubmit(session, request_id=request_id, requester=REQUESTER, comment="done")
        service.reject(session, request_id=request_id, reviewer=DATA, comment="no")
    with runtime.db.unit_of_work() as session:
        decisions = session.scalar(
            select(func.count())
            .select_from(ApprovalDecision)
            .where(ApprovalDecision.request_id == request_id)
        )
        audits = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.object_id == request_id)
        )
        events = session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.subject == f"{name}@{number}")
        )
    assert decisions == audits == events == 4
