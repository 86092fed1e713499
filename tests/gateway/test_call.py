"""The resilient call's rules that need no network: client errors, skips, the deadline."""

from __future__ import annotations

import pytest

from mlgate.errors import Invalid
from mlgate.gateway.backends import InferenceRequest, InferenceResult
from mlgate.gateway.call import AllTargetsFailed, Target, TargetRefused, call_with_resilience
from mlgate.gateway.resilience import (
    BreakerConfig,
    Bulkhead,
    ConnectFailure,
    Deadline,
    MemoryBreaker,
    RetryBudget,
    RetryPolicy,
    StatusFailure,
)
from tests.clocks import ManualClock

pytestmark = pytest.mark.anyio


class ScriptedBackend:
    """A stand-in for a remote model server that fails as scripted, then answers."""

    def __init__(self, name: str, failures: list[Exception] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.calls = 0
        self.timeouts: list[float] = []

    async def infer(self, request: InferenceRequest, *, timeout: float) -> InferenceResult:
        self.calls += 1
        self.timeouts.append(timeout)
        if self.failures:
            raise self.failures.pop(0)
        return InferenceResult({"served_by": self.name})


def targets(*backends: ScriptedBackend) -> list[Target]:
    return [Target(b.name, b) for b in backends]


POLICY = RetryPolicy(max_attempts=3, base_delay=0.0)


async def test_retries_a_transient_failure_on_the_same_target() -> None:
    primary = ScriptedBackend("primary", [ConnectFailure("reset"), StatusFailure(503)])
    outcome = await call_with_resilience(
        targets(primary),
        InferenceRequest([[1]]),
        deadline=Deadline.after(5),
        policy=POLICY,
        budget=RetryBudget(),
    )
    assert outcome.value.outputs == {"served_by": "primary"}
    assert not outcome.fallback
    assert [a.outcome for a in outcome.attempts] == ["connect", "status_503", "ok"]


async def test_upstream_client_errors_propagate_without_fallback() -> None:
    primary = ScriptedBackend("primary", [ConnectFailure("reset"), StatusFailure(422)])
    fallback = ScriptedBackend("fallback")
    with pytest.raises(TargetRefused) as caught:
        await call_with_resilience(
            targets(primary, fallback),
            InferenceRequest([[1]]),
            deadline=Deadline.after(5),
            policy=POLICY,
            budget=RetryBudget(),
        )
    assert caught.value.status == 422
    assert caught.value.target == "primary"
    assert [a.outcome for a in caught.value.attempts] == ["connect", "status_422"]
    assert fallback.calls == 0


async def test_invalid_input_propagates_and_frees_the_bulkhead() -> None:
    primary = ScriptedBackend("primary", [Invalid.field("inputs", "bad")])
    bulkhead = Bulkhead("primary", 1)
    with pytest.raises(Invalid):
        await call_with_resilience(
            targets(primary),
            InferenceRequest([[1]]),
            deadline=Deadline.after(5),
            policy=POLICY,
            budget=RetryBudget(),
            bulkheads={"primary": bulkhead},
        )
    assert bulkhead.in_flight == 0


async def test_non_retryable_failure_moves_straight_to_the_fallback() -> None:
    primary = ScriptedBackend("primary", [StatusFailure(500)])
    fallback = ScriptedBackend("fallback")
    outcome = await call_with_resilience(
        targets(primary, fallback),
        InferenceRequest([[1]]),
        deadline=Deadline.after(5),
        policy=POLICY,
        budget=RetryBudget(),
    )
    assert outcome.target == "fallback"
    assert outcome.fallback
    assert primary.calls == 1


async def test_open_breaker_skips_its_target(clock: ManualClock) -> None:
    breaker = MemoryBreaker("primary", BreakerConfig(minimum_calls=1), clock=clock)
    await breaker.record_failure()
    primary, fallback = ScriptedBackend("primary"), ScriptedBackend("fallback")
    outcome = await call_with_resilience(
        targets(primary, fallback),
        InferenceRequest([[1]]),
        deadline=Deadline.after(5),
        policy=POLICY,
        budget=RetryBudget(),
        breakers={"primary": breaker},
    )
    assert primary.calls == 0
    assert [(a.target, a.outcome) for a in outcome.attempts] == [
        ("primary", "breaker_open"),
        ("fallback", "ok"),
    ]
    assert not outcome.attempts[0].reached_backend


async def test_attempt_timeouts_are_cut_to_the_remaining_deadline(clock: ManualClock) -> None:
    primary = ScriptedBackend("primary")
    await call_with_resilience(
        targets(primary),
        InferenceRequest([[1]]),
        deadline=Deadline.after(0.4, clock=clock),
        policy=RetryPolicy(attempt_timeout=1.0),
        budget=RetryBudget(),
    )
    assert primary.timeouts == [pytest.approx(0.4)]


async def test_expired_deadline_fails_without_calling_anyone(clock: ManualClock) -> None:
    primary = ScriptedBackend("primary")
    deadline = Deadline.after(1, clock=clock)
    clock.advance(2)
    with pytest.raises(AllTargetsFailed, match="deadline expired"):
        await call_with_resilience(
            targets(primary),
            InferenceRequest([[1]]),
            deadline=deadline,
            policy=POLICY,
            budget=RetryBudget(),
        )
    assert primary.calls == 0


async def test_exhausted_budget_stops_retries_but_not_fallback() -> None:
    failures: list[Exception] = [StatusFailure(503) for _ in range(3)]
    primary, fallback = ScriptedBackend("primary", failures), ScriptedBackend("fallback")
    outcome = await call_with_resilience(
        targets(primary, fallback),
        InferenceRequest([[1]]),
        deadline=Deadline.after(5),
        policy=POLICY,
        budget=RetryBudget(ratio=0, min_per_second=0),
    )
    assert primary.calls == 1
    assert [a.outcome for a in outcome.attempts] == ["status_503", "budget_exhausted", "ok"]


async def test_unavailable_carries_the_shortest_retry_after_hint() -> None:
    busy = ScriptedBackend("busy", [StatusFailure(429, retry_after=30)])
    down = ScriptedBackend("down", [StatusFailure(503, retry_after=7)])
    with pytest.raises(AllTargetsFailed) as caught:
        await call_with_resilience(
            targets(busy, down),
            InferenceRequest([[1]]),
            deadline=Deadline.after(5),
            policy=RetryPolicy(max_attempts=1),
            budget=RetryBudget(),
        )
    assert caught.value.retry_after == 7
