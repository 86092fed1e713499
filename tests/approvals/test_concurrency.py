"""Two reviewers decide the same stage at the same moment: exactly one wins, the other 409s."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mlgate.approvals import service
from mlgate.approvals.schemas import RequestState
from mlgate.audit import service as audit
from mlgate.errors import Conflict
from mlgate.runtime import Runtime
from tests.approvals.conftest import REQUESTER, VersionFactory, reviewer
from tests.concurrency import race

ROUNDS = 4


def race_decisions(
    runtime: Runtime,
    *decisions: Callable[..., object],
    request_id: str,
    stage: str | None = "data-review",
) -> list[str]:
    """Each decision by its own reviewer, all at once: "won", "conflict" or the error."""
    people = [reviewer("dana", "data"), reviewer("dora", "data"), reviewer("dino", "data")]
    units = [
        partial(
            decide, request_id=request_id, reviewer=person, comment=f"decision {i}", stage=stage
        )
        for i, (decide, person) in enumerate(zip(decisions, people, strict=False))
    ]
    return [_verdict(outcome) for outcome in race(runtime, *units)]


def _verdict(outcome: object) -> str:
    if isinstance(outcome, Conflict):
        return "conflict"
    if isinstance(outcome, Exception):  # reported by the assertions
        return f"error {type(outcome).__name__}: {outcome}"
    return "won"


def test_concurrent_decisions_on_one_stage_have_exactly_one_winner(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    for round_ in range(ROUNDS):
        name, number = make_version()
        with runtime.db.unit_of_work() as session:
            request_id = service.request_review(
                session, model_name=name, version=number, requester=REQUESTER
            ).id
        deciders = (
            (service.approve, service.approve, service.approve)
            if round_ % 2 == 0
            else (service.approve, service.reject, service.request_changes)
        )
        outcomes = race_decisions(runtime, *deciders, request_id=request_id)
        assert sorted(outcomes) == ["conflict", "conflict", "won"], outcomes
        with runtime.db.unit_of_work() as session:
            request = service.get(session, request_id=request_id)
            entries = audit.get_all(session, object_id=request_id)
            assert audit.verify(session).ok
        assert len(request.decisions) == len(entries) == 2  # submitted + the one winner
        kind = request.decisions[-1].kind.value
        expected = (
            "approved"
            if round_ % 2 == 0
            else ["approved", "rejected", "changes_requested"][outcomes.index("won")]
        )
        assert kind == expected
        if kind == "approved":
            assert request.state == RequestState.PENDING
            assert request.current_stage == "security-review"


def test_concurrent_decisions_without_a_stage_still_have_one_winner(
    runtime: Runtime, make_version: VersionFactory
) -> None:
    """Without ``stage`` the optimistic lock (PostgreSQL) or the write lock (SQLite) decides."""
    for _ in range(ROUNDS):
        name, number = make_version()
        with runtime.db.unit_of_work() as session:
            request_id = service.request_review(
                session, model_name=name, version=number, requester=REQUESTER
            ).id
        outcomes = race_decisions(
            runtime,
            service.reject,
            service.request_changes,
            service.reject,
            request_id=request_id,
            stage=None,
        )
        assert sorted(outcomes) == ["conflict", "conflict", "won"], outcomes
        with runtime.db.unit_of_work() as session:
            assert len(service.get(session, request_id=request_id).decisions) == 2
