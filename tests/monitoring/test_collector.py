"""The gateway's drift collector: bounded queue, grouped counts, and failures kept from callers."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from mlgate.monitoring.collector import DriftCollector
from mlgate.monitoring.drift import Binner, DriftWatch, build_profile
from mlgate.monitoring.models import DriftCount
from mlgate.runtime import Runtime
from mlgate.store.database import Database

PROFILE = build_profile(["x"], [[float(i)] for i in range(100)], bins=4)  # cuts 25, 50, 75


def watch(reference_id: str = "ref-1") -> DriftWatch:
    return DriftWatch(reference_id, Binner(PROFILE))


def test_counts_are_grouped_by_route_version_and_reference(runtime: Runtime) -> None:
    collector = DriftCollector(runtime.db)
    collector.observe("a", "m", 1, watch(), [[10.0], [60.0]])
    collector.observe("a", "m", 1, watch(), [[90.0]])
    collector.observe("a", "m", 1, watch(), "unreadable")
    collector.observe("a", "m", 2, watch("ref-2"), [[None]])
    collector.observe("b", "m", 1, watch(), [[30.0]])

    asyncio.run(collector.flush())

    with runtime.db.unit_of_work() as session:
        rows = {
            (r.route, r.version, r.reference_id): (r.requests, r.unreadable, r.counts)
            for r in session.scalars(select(DriftCount))
        }
    assert rows == {
        ("a", 1, "ref-1"): (3, 1, [[1, 0, 1, 1, 0]]),
        ("a", 2, "ref-2"): (1, 0, [[0, 0, 0, 0, 1]]),
        ("b", 1, "ref-1"): (1, 0, [[0, 1, 0, 0, 0]]),
    }
    asyncio.run(collector.flush())  # nothing new: nothing written
    with runtime.db.unit_of_work() as session:
        assert len(session.scalars(select(DriftCount)).all()) == 3


def test_a_full_queue_drops_and_counts_and_asks_for_an_early_flush(runtime: Runtime) -> None:
    dropped: list[int] = []
    collector = DriftCollector(runtime.db, capacity=4, on_drop=lambda: dropped.append(1))
    for _ in range(2):
        collector.observe("a", "m", 1, watch(), [[1.0]])
    assert collector.filling
    for _ in range(4):
        collector.observe("a", "m", 1, watch(), [[1.0]])

    assert (collector.dropped, len(dropped)) == (2, 2)
    asyncio.run(collector.flush())
    assert not collector.filling
    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
    assert row.requests == 4


def test_a_failed_write_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unmigrated = Database(f"sqlite:///{tmp_path}/empty.db")
    collector = DriftCollector(unmigrated)
    collector.observe("a", "m", 1, watch(), [[1.0]])

    with caplog.at_level(logging.ERROR, logger="mlgate.monitoring.collector"):
        asyncio.run(collector.flush())

    assert "drift counts lost" in caplog.text
    unmigrated.engine.dispose()


def test_the_queue_is_bounded_by_the_values_it_holds_not_by_requests(runtime: Runtime) -> None:
    dropped: list[int] = []
    collector = DriftCollector(runtime.db, capacity=1_000, on_drop=lambda: dropped.append(1))
    wide = [[1.0] * 10] * 60  # 600 values in one request

    collector.observe("a", "m", 1, watch(), [[1.0]] * 300)  # rows of one value
    assert not collector.filling
    collector.observe("a", "m", 1, watch(), {"x": [1.0] * 300})  # the same as columns
    assert collector.filling
    collector.observe("a", "m", 1, watch(), wide)  # would pass 1,000 values: dropped

    assert (collector.dropped, len(dropped)) == (1, 1)
    asyncio.run(collector.flush())
    assert not collector.filling
    collector.observe("a", "m", 1, watch(), wide)  # room again once flushed
    assert collector.dropped == 1
    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
    assert (row.requests, sum(row.counts[0])) == (2, 600)
