"""Grandfather-father-son retention keeps the newest per day, ISO week and month, and always
the newest backup; pruning deletes only what the policy does not keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.backup.retention import Retention, select_kept

START = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


def daily(days: int) -> list[tuple[str, datetime]]:
    return [(f"b{i:03d}", START + timedelta(days=i)) for i in range(days)]


def test_keeps_last_days_weeks_and_months() -> None:
    backups = daily(120)
    kept = select_kept(backups, Retention(daily=7, weekly=4, monthly=3))
    newest = {b for b, _ in backups[-7:]}
    assert newest <= kept
    # 7 days + at most 4 week-ends + at most 3 month-ends, overlapping
    assert 7 < len(kept) <= 14
    times = dict(backups)
    months = {(times[b].year, times[b].month) for b in kept}
    assert len(months) == 3


def test_two_backups_a_day_keep_the_newest_of_each_day() -> None:
    backups = [(f"b{i}", START + timedelta(hours=12 * i)) for i in range(6)]
    kept = select_kept(backups, Retention(daily=3, weekly=0, monthly=0))
    assert kept == {"b5", "b3", "b1"}


def test_zero_retention_still_keeps_the_newest() -> None:
    assert select_kept(daily(5), Retention(0, 0, 0)) == {"b004"}
    assert select_kept([], Retention(7, 4, 12)) == set()


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=400 * 24), min_size=1, max_size=60),
    policy=st.builds(Retention, st.integers(0, 10), st.integers(0, 6), st.integers(0, 14)),
)
def test_retention_properties(offsets: list[int], policy: Retention) -> None:
    backups = [(f"b{i}", START + timedelta(hours=h)) for i, h in enumerate(offsets)]
    kept = select_kept(backups, policy)
    newest = max(backups, key=lambda b: (b[1], b[0]))[0]
    assert newest in kept
    assert kept <= {b for b, _ in backups}
    assert len(kept) <= 1 + policy.daily + policy.weekly + policy.monthly
    assert select_kept([b for b in backups if b[0] in kept], policy) == kept  # idempotent
