"""Property: whatever decisions random principals make, the workflow's rules hold."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mlgate.approvals import service
from mlgate.approvals.schemas import PolicyDocument, RequestState
from mlgate.audit.models import AuditEntry
from mlgate.auth.schemas import Principal
from mlgate.errors import MlgateError
from mlgate.runtime import Runtime
from tests.approvals.conftest import REQUESTER, VersionFactory, reviewer, simple_policy

PRINCIPALS = [
    reviewer(REQUESTER.name, "data", "security", scopes=("approvals:review", "approvals:request")),
    reviewer("dana", "data"),
    reviewer("dora", "data"),
    reviewer("sam", "security"),
    reviewer("bo", "data", "security"),
    reviewer("avery"),
    reviewer("nina", "data", "security", scopes=("registry:read",)),
    Principal(name="root", scopes=frozenset({"admin"})),
]
# Weighted towards approvals by default (None) stage, so many sequences reach a terminal state.
ACTIONS = ["approve"] * 20 + ["reject", "request_changes", "resubmit", "resubmit"]
STAGES = [None] * 6 + ["data-review", "security-review", "final-approval"]


def policy_for(allow_same: bool) -> PolicyDocument:
    return simple_policy(
        ("data-review", ["data"], ["input_schema_declared"]),
        ("security-review", ["security"], []),
        ("final-approval", [], []),
        allow_same=allow_same,
    )


def allowed(principal: Principal, groups: list[str]) -> bool:
    """The oracle, written independently of the service: scope, then group."""
    has_scope = "admin" in principal.scopes or "approvals:review" in principal.scopes
    return has_scope and (not groups or bool(set(groups) & principal.groups))


def audit_count(runtime: Runtime, request_id: str) -> int:
    with runtime.db.unit_of_work() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.object_id == request_id)
            )
            or 0
        )


def act(runtime: Runtime, action: str, request_id: str, who: Principal, stage: Any) -> bool:
    with runtime.db.unit_of_work() as session:
        try:
            if action == "resubmit":
                service.resubmit(session, request_id=request_id, requester=who, comment="again")
            else:
                decide = getattr(service, action)
                decide(session, request_id=request_id, reviewer=who, comment="c", stage=stage)
        except MlgateError:
            return False
    return True


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    allow_same=st.booleans(),
    has_schema=st.sampled_from([True, True, True, False]),
    steps=st.lists(
        st.tuples(
            st.sampled_from(ACTIONS),
            st.integers(0, len(PRINCIPALS) - 1),
            st.sampled_from(STAGES),
        ),
        min_size=1,
        max_size=24,
    ),
)
def test_no_sequence_of_decisions_breaks_the_rules(
    runtime: Runtime,
    make_version: VersionFactory,
    allow_same: bool,
    has_schema: bool,
    steps: list[tuple[str, int, str | None]],
) -> None:
    document = policy_for(allow_same)
    name, number = make_version(input_schema=has_schema, policy_doc=document)
    with runtime.db.unit_of_work() as session:
        request_id = service.request_review(
            session, model_name=name, version=number, requester=REQUESTER
        ).id
    terminal_at: int | None = None
    for index, (action, who, stage) in enumerate(steps):
        before = audit_count(runtime, request_id)
        succeeded = act(runtime, action, request_id, PRINCIPALS[who], stage)
        after = audit_count(runtime, request_id)
        assert after - before == (1 if succeeded else 0)  # one audit entry per transition
        if terminal_at is not None:
            assert not succeeded, "a terminal request moved"
        with runtime.db.unit_of_work() as session:
            state = service.get(session, request_id=request_id).state
        if state.terminal and terminal_at is None:
            terminal_at = index

    with runtime.db.unit_of_work() as session:
        final = service.get(session, request_id=request_id)
    event(f"final state {final.state.value}")
    assert len(final.decisions) == audit_count(runtime, request_id)
    if final.state == RequestState.APPROVED:
        assert has_schema
        approvals = [
            d for d in final.decisions if d.round == final.round and d.kind.value == "approved"
        ]
        assert [d.stage_index for d in approvals] == list(range(len(document.stages)))
        by_name = {p.name: p for p in PRINCIPALS}
        for decision in approvals:
            stage_policy = document.stages[decision.stage_index or 0]
            assert decision.actor != REQUESTER.name
            assert allowed(by_name[decision.actor], stage_policy.reviewer_groups)
        if not allow_same:
            assert len({d.actor for d in approvals}) == len(approvals)
