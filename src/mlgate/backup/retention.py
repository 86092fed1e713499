"""Grandfather-father-son retention: which backups to keep, as a pure function of their times.

A backup is kept when it is the newest of one of the ``daily`` most recent days that have a
backup, of the ``weekly`` most recent ISO weeks, or of the ``monthly`` most recent months. The
newest backup is always kept, so pruning can never leave nothing to restore.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Retention", "select_kept"]


@dataclass(frozen=True, slots=True)
class Retention:
    daily: int
    weekly: int
    monthly: int


def _newest_per_period(
    backups: Sequence[tuple[str, datetime]], period: Callable[[datetime], Hashable], count: int
) -> set[str]:
    kept: set[str] = set()
    seen: list[Hashable] = []
    for backup_id, created in backups:  # newest first
        key = period(created)
        if key in seen:
            continue
        if len(seen) >= count:
            break
        seen.append(key)
        kept.add(backup_id)
    return kept


def select_kept(backups: Sequence[tuple[str, datetime]], policy: Retention) -> set[str]:
    """The ids to keep among ``(id, created_at)`` pairs (any order, UTC times)."""
    ordered = sorted(backups, key=lambda item: (item[1], item[0]), reverse=True)
    if not ordered:
        return set()
    kept = {ordered[0][0]}
    kept |= _newest_per_period(ordered, lambda t: t.date(), policy.daily)
    kept |= _newest_per_period(ordered, lambda t: t.isocalendar()[:2], policy.weekly)
    kept |= _newest_per_period(ordered, lambda t: (t.year, t.month), policy.monthly)
    return kept
