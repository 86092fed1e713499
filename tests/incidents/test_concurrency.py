"""Incidents opened at the same moment: one incident per cause (the others recur on it), and
manual openings all succeed with distinct numbers."""

from __future__ import annotations

from functools import partial

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.incidents import service
from mlgate.incidents.schemas import IncidentCreate, IncidentRead, Severity
from mlgate.runtime import Runtime
from tests.concurrency import race

ROUNDS = 4
CALLERS = 4


def opened(outcomes: list[IncidentRead | Exception]) -> list[IncidentRead]:
    incidents = [o for o in outcomes if isinstance(o, IncidentRead)]
    assert len(incidents) == len(outcomes), outcomes
    return incidents


def test_concurrent_automatic_openings_of_one_cause_give_one_incident(runtime: Runtime) -> None:
    for round_ in range(ROUNDS):
        cause_key = f"breaker:churn-{round_}"
        open_one = partial(
            service.open_automatic,
            cause_key=cause_key,
            title="Breaker open on churn",
            severity=Severity.SEV3,
        )
        outcomes = race(runtime, *[open_one] * CALLERS)
        incidents = opened(outcomes)
        with runtime.db.unit_of_work() as session:
            open_now = [
                i for i in service.get_all(session, open_only=True) if i.cause_key == cause_key
            ]
            assert audit.verify(session).ok
        assert len(open_now) == 1
        incident = open_now[0]
        assert {i.id for i in incidents} == {incident.id}
        assert [e.kind for e in incident.events] == ["opened"] + ["recurred"] * (CALLERS - 1)


def test_concurrent_manual_openings_all_succeed_with_distinct_numbers(
    runtime: Runtime, admin: Principal
) -> None:
    for round_ in range(ROUNDS):
        incident_in = IncidentCreate(title=f"Latency spike {round_}", severity=Severity.SEV2)
        incidents = opened(
            race(
                runtime,
                *[
                    partial(
                        service.open_incident,
                        incident_in=incident_in,
                        actor=admin,
                        threshold_minutes=60,
                    )
                ]
                * CALLERS,
            )
        )
        assert len({i.number for i in incidents}) == CALLERS
    with runtime.db.unit_of_work() as session:
        numbers = [i.number for i in service.get_all(session, limit=500)]
        assert audit.verify(session).ok
    assert sorted(numbers) == list(range(1, ROUNDS * CALLERS + 1))
