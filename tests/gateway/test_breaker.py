"""The in-memory circuit breaker's state machine, driven by an injected clock."""

from __future__ import annotations

import pytest

from mlgate.gateway.resilience import BreakerConfig, BreakerState, MemoryBreaker
from tests.clocks import ManualClock

pytestmark = pytest.mark.anyio

CONFIG = BreakerConfig(
    failure_rate=0.5,
    minimum_calls=4,
    window_seconds=10,
    open_seconds=5,
    half_open_probes=2,
    probe_successes=2,
)


async def fail(breaker: MemoryBreaker, times: int) -> None:
    for _ in range(times):
        assert await breaker.allow()
        await breaker.record_failure()


async def test_stays_closed_below_the_minimum_number_of_calls(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 3)
    assert await breaker.state() is BreakerState.CLOSED


async def test_opens_when_the_failure_rate_reaches_the_threshold(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await breaker.record_success()
    await breaker.record_success()
    await fail(breaker, 1)
    assert await breaker.state() is BreakerState.CLOSED
    await fail(breaker, 1)  # 2 of 4 failed: 50 %
    assert await breaker.state() is BreakerState.OPEN
    assert not await breaker.allow()


async def test_failures_outside_the_window_are_forgotten(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 3)
    clock.advance(11)
    await fail(breaker, 1)
    assert await breaker.state() is BreakerState.CLOSED


async def test_half_open_admits_only_the_configured_probes(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 4)
    clock.advance(4.9)
    assert not await breaker.allow()
    clock.advance(0.1)
    assert await breaker.state() is BreakerState.HALF_OPEN
    assert [await breaker.allow() for _ in range(5)] == [True, True, False, False, False]


async def test_probe_successes_close_the_breaker(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 4)
    clock.advance(5)
    assert await breaker.allow()
    assert await breaker.allow()
    await breaker.record_success()
    assert await breaker.state() is BreakerState.HALF_OPEN
    await breaker.record_success()
    assert await breaker.state() is BreakerState.CLOSED
    await fail(breaker, 3)  # a fresh window: old failures do not count
    assert await breaker.state() is BreakerState.CLOSED


async def test_a_failed_probe_opens_the_breaker_again(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 4)
    clock.advance(5)
    assert await breaker.allow()
    await breaker.record_failure()
    assert await breaker.state() is BreakerState.OPEN
    clock.advance(4)
    assert not await breaker.allow()


async def test_outcomes_reported_while_open_are_ignored(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 4)
    for _ in range(10):  # late answers of calls admitted before the trip
        await breaker.record_success()
    assert await breaker.state() is BreakerState.OPEN


async def test_lost_probes_do_not_wedge_the_breaker_half_open(clock: ManualClock) -> None:
    breaker = MemoryBreaker("t", CONFIG, clock=clock)
    await fail(breaker, 4)
    clock.advance(5)
    assert await breaker.allow()  # both probes never report
    assert await breaker.allow()
    assert not await breaker.allow()
    clock.advance(5)
    assert await breaker.allow()


async def test_count_based_window_uses_the_last_n_outcomes(clock: ManualClock) -> None:
    config = BreakerConfig(failure_rate=0.5, minimum_calls=4, window_calls=4)
    breaker = MemoryBreaker("t", config, clock=clock)
    for _ in range(10):
        await breaker.record_success()
    await fail(breaker, 1)
    assert await breaker.state() is BreakerState.CLOSED
    await fail(breaker, 1)  # last four: S S F F
    assert await breaker.state() is BreakerState.OPEN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_rate": 0},
        {"minimum_calls": 0},
        {"half_open_probes": 1, "probe_successes": 2},
        {"minimum_calls": 10, "window_calls": 5},
    ],
)
def test_inconsistent_configs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]
