"""Stored drift counts: summed over a report's window, and rolled up into hours once old.

Every gateway replica writes a row per target and flush (``collector``): ten replicas flushing
every 10 s write 86,400 rows a day per target, and summing 200,000 of them took a report 1.6 s
on SQLite and 2.5 s on PostgreSQL. ``roll_up`` sums a finished hour's flush rows into one
``hourly`` row in the same table, so a report over a long window reads a row per target and
hour plus the last hours' flush rows (``jobs.drift_rollup_job`` says which hours): those
200,000 rows over 23 days became 1,250, read in 0.015 s and 0.05 s.

A report counts every row whose ``at`` is in its window, and an hour's row is at the hour's
start: where hours were rolled up, a window counts the hours that start inside it. Retention
deletes an hour's row once its start is past the route's retention: up to an hour before its
last flush row would have gone, never after.

Three things must stay true. A gateway retrying a flush whose commit went through unseen skips
the ids the store has: the roll-up records the ids it deletes (``FoldedFlush``) in the same
transaction, and the job forgets them only once no gateway retries such a row
(``collector.KEEP_FOR``). Roll-ups and retention purges of drift counts take one lock
(``lock_drift_counts``), so on PostgreSQL a purge never counts rows that a roll-up is replacing
with an hourly row its DELETE cannot see. And a route under a legal hold keeps its rows as the
gateways wrote them: the roll-up skips it, and reads the holds under the holds' lock, as a purge
does, so a hold confirmed meanwhile is one it sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
from sqlalchemy import Row, Select, Text, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from mlgate.errors import Conflict
from mlgate.ids import new_id
from mlgate.monitoring.models import DriftCount, FoldedFlush
from mlgate.privacy.holds import held_routes, lock_holds_for_reading

__all__ = [
    "ROLL_UP_ROWS",
    "Tally",
    "forget_folded",
    "lock_drift_counts",
    "roll_up",
    "sum_counts",
]

ROLL_UP_ROWS = 5_000  # flush rows one roll-up transaction takes at most
_PARTITION_ROWS = 10_000  # rows summed at a time: bounds a report's memory
_DELETE_CHUNK = 500  # ids per DELETE, within any driver's limit on bound values
# The advisory lock's key: any fixed bigint no other lock uses (see holds.py, erasures.py).
_COUNTS_LOCK = 0x6D6C_6761_7465_4443  # "mlgateDC"

# (model, version, reference id)
TargetKey = tuple[str, int, str]
# (route, model, version, reference id, hour)
_HourKey = tuple[str, str, int, str, datetime]
_Stored = Row[str, str, str, int, str, datetime, int, int, str]
_K = TypeVar("_K", bound=Hashable)


@dataclass(slots=True)
class Tally:
    """One target's drift counts summed over some rows."""

    requests: int
    unreadable: int
    widths: list[int]  # bins per feature, as the first row counted them
    bins: np.ndarray  # every feature's bins end to end (int64)

    @classmethod
    def like(cls, counts: str) -> Tally:
        """An empty tally with the bins of ``counts`` (a row's counts as stored JSON text)."""
        widths = [len(feature) for feature in json.loads(counts)]
        return cls(0, 0, widths, np.zeros(sum(widths), dtype=np.int64))

    def add(self, texts: Sequence[str]) -> None:
        """Add rows' counts, as stored JSON text: numpy parses them in one call (loading each
        row's JSON and adding bin by bin took a report 3 to 5 s per 86,400 rows).

        Rows of one reference have its bins, so they all have its width.
        """
        numbers = ",".join(texts).replace("[", "").replace("]", "")
        parsed = np.fromstring(numbers, dtype=np.int64, sep=",")
        self.bins += parsed.reshape(len(texts), self.bins.size).sum(axis=0)

    def counts(self) -> list[list[int]]:
        """Bins per feature, as the rows store them."""
        parts = np.split(self.bins, np.cumsum(self.widths)[:-1])
        return [part.tolist() for part in parts]


def _columns() -> Select[str, str, str, int, str, datetime, int, int, str]:
    return select(
        DriftCount.id,
        DriftCount.route,
        DriftCount.model,
        DriftCount.version,
        DriftCount.reference_id,
        DriftCount.at,
        DriftCount.requests,
        DriftCount.unreadable,
        cast(DriftCount.counts, Text).label("counts"),
    )


def sum_counts(
    session: Session, *, route: str, since: datetime, until: datetime
) -> dict[TargetKey, Tally]:
    """``route``'s drift counts in ``[since, until)`` summed per model, version and reference.

    Streamed in partitions as plain (Core) rows, in one statement: a roll-up commits an hour's
    rows and their sum together, so the statement sees one or the other, never both.
    """
    query = (
        _columns()
        .where(DriftCount.route == route, DriftCount.at >= since, DriftCount.at < until)
        .order_by(DriftCount.model, DriftCount.version)
        .execution_options(yield_per=_PARTITION_ROWS)
    )
    tallies: dict[TargetKey, Tally] = {}
    for partition in session.connection().execute(query).partitions():
        _add_rows(tallies, partition, lambda row: (row.model, row.version, row.reference_id))
    return tallies


def _add_rows(
    tallies: dict[_K, Tally], rows: Iterable[_Stored], key_of: Callable[[_Stored], _K]
) -> None:
    texts: dict[_K, list[str]] = {}
    for row in rows:
        key = key_of(row)
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally.like(row.counts)
        tally.requests += row.requests
        tally.unreadable += row.unreadable
        texts.setdefault(key, []).append(row.counts)
    for key, found in texts.items():
        tallies[key].add(found)


def _target_hour(row: _Stored) -> _HourKey:
    return (row.route, row.model, row.version, row.reference_id, _hour(row.at))


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def lock_drift_counts(session: Session) -> None:
    """Make roll-ups and purges of drift counts wait for this transaction (PostgreSQL; on
    SQLite ``BEGIN IMMEDIATE`` orders every writer already). Take it after the holds' lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_COUNTS_LOCK)))


def roll_up(session: Session, *, before: datetime, limit: int = ROLL_UP_ROWS) -> int:
    """Sum up to ``limit`` flush rows older than ``before`` (the oldest) into their hours' rows.

    An hour already rolled up (a late flush row came: a gateway keeps its rows while the store
    is down) is summed again with its new rows into one row. The rows read are deleted, their
    ids kept in ``FoldedFlush`` and their sums written in ``session``'s transaction. Routes
    under a legal hold are left as they are. Roll-ups and purges wait for each other
    (``lock_drift_counts``); one that still deletes fewer rows than it read raises
    ``Conflict`` (roll it back). Returns the flush rows taken.
    """
    lock_holds_for_reading(session)  # before the holds are read, then the counts' lock
    lock_drift_counts(session)
    held = held_routes(session)
    query = _columns().where(DriftCount.hourly.is_(False), DriftCount.at < before)
    if held:
        query = query.where(DriftCount.route.not_in(held))
    connection = session.connection()
    flushes = connection.execute(query.order_by(DriftCount.at).limit(limit)).all()
    if not flushes:
        return 0
    wanted = {_target_hour(row) for row in flushes}
    earlier = connection.execute(
        _columns().where(
            DriftCount.hourly.is_(True),
            DriftCount.route.in_({row.route for row in flushes}),
            DriftCount.at >= _hour(flushes[0].at),
            DriftCount.at <= _hour(flushes[-1].at),
        )
    ).all()
    taken = [*flushes, *(row for row in earlier if _target_hour(row) in wanted)]
    tallies: dict[_HourKey, Tally] = {}
    _add_rows(tallies, taken, _target_hour)
    ids = [row.id for row in taken]
    deleted = 0
    for start in range(0, len(ids), _DELETE_CHUNK):
        chunk = ids[start : start + _DELETE_CHUNK]
        deleted += connection.execute(delete(DriftCount).where(DriftCount.id.in_(chunk))).rowcount
    if deleted != len(ids):
        raise Conflict("drift counts were rolled up by another run meanwhile; run it again")
    connection.execute(insert(FoldedFlush), [{"id": row.id, "at": row.at} for row in flushes])
    connection.execute(
        insert(DriftCount),
        [
            {
                "id": new_id(),
                "at": hour,
                "route": route,
                "model": model,
                "version": version,
                "reference_id": reference_id,
                "requests": tally.requests,
                "unreadable": tally.unreadable,
                "counts": tally.counts(),
                "hourly": True,
            }
            for (route, model, version, reference_id, hour), tally in tallies.items()
        ],
    )
    return len(flushes)


def forget_folded(session: Session, *, before: datetime, limit: int = ROLL_UP_ROWS) -> int:
    """Forget up to ``limit`` ids of rolled-up flush rows from before ``before``; returns how
    many. Pass a time no gateway retries a row from (``collector.KEEP_FOR``, and a margin)."""
    oldest = select(FoldedFlush.id).where(FoldedFlush.at < before).limit(limit)
    connection = session.connection()
    return connection.execute(delete(FoldedFlush).where(FoldedFlush.id.in_(oldest))).rowcount
