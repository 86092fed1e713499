"""Deadlines, backoff, Retry-After and the retry budget, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlgate.gateway.resilience import (
    ConnectFailure,
    Deadline,
    ProtocolFailure,
    RetryBudget,
    RetryPolicy,
    StatusFailure,
    TimeoutFailure,
    parse_retry_after,
)
from mlgate.gateway.resilience.retry import LONGEST_RETRY_AFTER
from tests.clocks import ManualClock


def test_deadline_counts_down_and_never_goes_negative(clock: ManualClock) -> None:
    deadline = Deadline.after(2.0, clock=clock)
    clock.advance(0.5)
    assert deadline.remaining() == pytest.approx(1.5)
    clock.advance(5)
    assert deadline.remaining() == 0.0
    assert deadline.expired


def test_attempt_timeout_is_cut_to_what_the_deadline_has_left(clock: ManualClock) -> None:
    deadline = Deadline.after(1.0, clock=clock)
    assert deadline.attempt_timeout(0.3) == pytest.approx(0.3)
    assert deadline.attempt_timeout(None) == pytest.approx(1.0)
    clock.advance(0.9)
    assert deadline.attempt_timeout(0.3) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("failure", "retry"),
    [
        (ConnectFailure("x"), True),
        (TimeoutFailure("x"), True),
        (StatusFailure(502), True),
        (StatusFailure(503), True),
        (StatusFailure(504), True),
        (StatusFailure(429), True),
        (StatusFailure(500), False),
        (StatusFailure(400), False),
        (ProtocolFailure("x"), False),
        (ValueError("x"), False),
    ],
)
def test_only_transient_failures_are_retried(failure: Exception, retry: bool) -> None:
    assert RetryPolicy().should_retry(failure) is retry


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5)
    assert [policy.backoff(n, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5]
    )
    assert policy.backoff(3, lambda: 0.0) == 0.0
    assert policy.backoff(3, lambda: 0.5) == pytest.approx(0.2)


def test_retry_after_is_honoured_when_it_fits_the_deadline(clock: ManualClock) -> None:
    policy = RetryPolicy(base_delay=0.01, max_retry_after=5)
    deadline = Deadline.after(3.0, clock=clock)
    assert policy.delay_before(1, StatusFailure(503, retry_after=2), deadline, lambda: 1.0) == 2
    # Longer than the deadline or the policy's cap: give up on this target instead of waiting.
    assert policy.delay_before(1, StatusFailure(503, retry_after=4), deadline, lambda: 1.0) is None
    assert policy.delay_before(1, StatusFailure(429, retry_after=9), deadline, lambda: 1.0) is None


def test_no_retry_when_the_backoff_would_use_up_the_deadline(clock: ManualClock) -> None:
    policy = RetryPolicy(base_delay=1.0)
    deadline = Deadline.after(0.5, clock=clock)
    assert policy.delay_before(1, TimeoutFailure("x"), deadline, lambda: 1.0) is None
    assert policy.delay_before(1, TimeoutFailure("x"), deadline, lambda: 0.1) == pytest.approx(0.1)


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("²") is None  # isdigit() holds for it, float() refuses it
    assert parse_retry_after(None) is None
    assert parse_retry_after("9" * 400) == LONGEST_RETRY_AFTER  # not float("inf")
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=now) == LONGEST_RETRY_AFTER


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_budget_allows_retries_up_to_the_ratio_of_requests(clock: ManualClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0, window=10, clock=clock)
    for _ in range(10):
        budget.record_request()
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]


def test_budget_floor_allows_a_few_retries_at_low_traffic(clock: ManualClock) -> None:
    budget = RetryBudget(ratio=0.1, min_per_second=0.5, window=10, clock=clock)
    budget.record_request()
    spent = sum(budget.try_spend() for _ in range(20))
    assert spent == 5  # 0.1 * 1 + 0.5 * 10, rounded down


def test_budget_window_slides_so_old_requests_stop_paying_for_retries(clock: ManualClock) -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0, window=10, clock=clock)
    for _ in range(4):
        budget.record_request()
    assert budget.try_spend()
    assert budget.try_spend()
    assert not budget.try_spend()
    clock.advance(10)  # the requests and the retries have left the window
    assert not budget.try_spend()
    budget.record_request()
    budget.record_request()
    assert budget.try_spend()
    assert not budget.try_spend()


def test_budget_never_lets_retries_exceed_ratio_plus_floor(clock: ManualClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=1, window=10, clock=clock)
    retries = 0
    for step in range(1_000):  # 100 s of traffic at 10 requests/s, every request retrying
        budget.record_request()
        retries += budget.try_spend()
        if step % 10 == 9:
            clock.advance(1)
    # Per 10 s window at most 0.2 * 100 + 10 = 30 retries; 100 s hold at most 10 windows.
    assert retries <= 10 * 30
    assert retries >= 200
