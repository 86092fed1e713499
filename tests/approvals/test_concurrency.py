"""Two reviewers decide the same stage at the same moment: exactly one wins, the other 409s."""

from __future__ import annotations

import threading
from collections.abc import Callable

from mlgate.approvals import service
from mlgate.approvals.schemas import RequestState
from mlgate.audit import service as audit
from mlgate.errors import Conflict
from mlgate.runtime import Runtime
from tests.approvals.conftest import REQUESTER, VersionFactory, reviewer

ROUNDS = 4
JOIN_TIMEOUT = 60


def race(
    runtime: Runtime,
    *decisions: Callable[..., object],
    request_id: str,
    stage: str | None = "data-review",
) -> list[str]:
    """Run each decision in its own thread and session, released together by a barrier."""
    barrier = threading.Barrier(len(decisions))
    outcomes: list[str] = ["unfinished"] * len(decisions)
    people = [reviewer("dana", "data"), reviewer("dora", "data"), reviewer("dino", "data")]

    def run(index: int, decide: Callable[..., object]) -> None:
        barrier.wait(timeout=JOIN_TIMEOUT)
        try:
            with runtime.db.unit_of_work() as session:
                decide(
                    session,
                    request_id=request_id,
                    reviewer=people[index],
                    comment=f"decision {index}",
                    stage=stage,
                )
            outcomes[index] = "won"
        except Conflict:
            outcomes[index] = "conflict"
        except Exception as error:  # reported by the assertion below
            outcomes[index] = f"error {type(error).__name__}: {error}"

    threads = [threading.Thread(target=run, args=(i, d)) for i, d in enumerate(decisions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


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
        outcomes = race(runtime, *deciders, request_id=request_id)
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
        outcomes = race(
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
