"""The gateway's drift collector: bounded queue, grouped counts, and failures kept from callers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from mlgate.monitoring.collector import BODY_BYTES_PER_VALUE, KEEP_FOR, DriftCollector
from mlgate.monitoring.drift import Binner, DriftWatch, build_profile
from mlgate.monitoring.jobs import FOLDED_KEPT, drift_rollup_job
from mlgate.monitoring.models import DriftCount, FoldedFlush
from mlgate.runtime import Runtime
from mlgate.store.database import Database
from mlgate.store.migrate import upgrade
from tests.relay import postgres_through_relay

PROFILE = build_profile(["x"], [[float(i)] for i in range(100)], bins=4)  # cuts 25, 50, 75
T0 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def watch(reference_id: str = "ref-1") -> DriftWatch:
    return DriftWatch(reference_id, Binner(PROFILE))


def test_counts_are_grouped_by_route_version_and_reference(runtime: Runtime) -> None:
    collector = DriftCollector(runtime.db)
    collector.observe("a", "m", 1, watch(), [[10.0], [60.0]], body_bytes=0)
    collector.observe("a", "m", 1, watch(), [[90.0]], body_bytes=0)
    collector.observe("a", "m", 1, watch(), "unreadable", body_bytes=0)
    collector.observe("a", "m", 2, watch("ref-2"), [[None]], body_bytes=0)
    collector.observe("b", "m", 1, watch(), [[30.0]], body_bytes=0)

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
        collector.observe("a", "m", 1, watch(), [[1.0]], body_bytes=0)
    assert collector.filling
    for _ in range(4):
        collector.observe("a", "m", 1, watch(), [[1.0]], body_bytes=0)

    assert (collector.dropped, len(dropped)) == (2, 2)
    asyncio.run(collector.flush())
    assert not collector.filling
    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
    assert row.requests == 4


def test_counts_wait_for_a_store_that_cannot_take_them_yet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Database(f"sqlite:///{tmp_path}/later.db")  # no tables yet: every write fails
    collector = DriftCollector(store)
    collector.observe("a", "m", 1, watch(), [[10.0]], body_bytes=0)
    with caplog.at_level(logging.WARNING, logger="mlgate.monitoring.collector"):
        asyncio.run(collector.flush())  # logged, never raised
    assert "drift counts kept for the next flush" in caplog.text

    upgrade(store.engine)
    collector.observe("a", "m", 1, watch(), [[60.0]], body_bytes=0)
    asyncio.run(collector.flush())
    with store.unit_of_work() as session:
        rows = sorted(tuple(r.counts[0]) for r in session.scalars(select(DriftCount)))
    assert rows == [(0, 0, 1, 0, 0), (1, 0, 0, 0, 0)]  # the kept flush's, then the new one's
    store.engine.dispose()


def test_kept_counts_are_bounded_oldest_lost_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Database(f"sqlite:///{tmp_path}/later.db")
    collector = DriftCollector(store, keep_rows=2)
    for route in ("a", "b", "c"):
        collector.observe(route, "m", 1, watch(), [[10.0]], body_bytes=0)
        asyncio.run(collector.flush())
    assert "drift counts lost: too many kept" in caplog.text

    upgrade(store.engine)
    asyncio.run(collector.flush())  # nothing new: the kept rows alone
    with store.unit_of_work() as session:
        assert sorted(session.scalars(select(DriftCount.route))) == ["b", "c"]
    store.engine.dispose()


def test_counts_wait_out_a_database_restart(db_url: str) -> None:
    relay, url = postgres_through_relay(db_url)
    store = Database(url)
    collector = DriftCollector(store)
    try:
        collector.observe("a", "m", 1, watch(), [[10.0]], body_bytes=0)
        asyncio.run(collector.flush())  # the pool now holds a connection through the relay
        relay.cut()
        collector.observe("a", "m", 1, watch(), [[60.0]], body_bytes=0)
        asyncio.run(collector.flush())  # fails: kept
        relay.restore()
        collector.observe("a", "m", 1, watch(), [[90.0]], body_bytes=0)
        asyncio.run(collector.flush())
        with store.unit_of_work() as session:
            requests = [r.requests for r in session.scalars(select(DriftCount))]
        assert sorted(requests) == [1, 1, 1]
    finally:
        relay.cut()
        store.dispose()


def test_a_row_written_by_an_attempt_that_seemed_to_fail_is_not_written_twice(
    runtime: Runtime,
) -> None:
    collector = DriftCollector(runtime.db)
    collector.observe("a", "m", 1, watch(), [[10.0]], body_bytes=0)
    asyncio.run(collector.flush())
    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
        kept = {c.name: getattr(row, c.name) for c in DriftCount.__table__.columns}
    collector._unwritten.append(kept)  # its commit went through, its answer was lost
    collector.observe("b", "m", 1, watch(), [[10.0]], body_bytes=0)
    asyncio.run(collector.flush())
    with runtime.db.unit_of_work() as session:
        assert sorted(session.scalars(select(DriftCount.route))) == ["a", "b"]


@contextlib.contextmanager
def commit_answer_lost(db: Database) -> Iterator[None]:
    """The next commit goes through, but its answer never reaches the gateway: to it the store
    went away mid-commit, as when a connection is cut between the server's commit and its
    reply."""
    armed = [True]

    def lose(connection: Connection) -> None:
        if armed:
            armed.clear()
            connection.connection.dbapi_connection.commit()  # type: ignore[union-attr]
            raise OperationalError("COMMIT", None, ConnectionError("server closed the connection"))

    event.listen(db.engine, "commit", lose)
    try:
        yield
    finally:
        event.remove(db.engine, "commit", lose)


def stored_requests(db: Database) -> int:
    with db.unit_of_work() as session:
        return int(session.scalar(select(func.sum(DriftCount.requests))) or 0)


def test_a_flush_written_unseen_and_rolled_up_before_its_retry_is_counted_once(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # The gateway keeps a flush whose commit answer was lost and skips, on retry, the ids the
    # store has; the roll-up deletes flush rows an hour or two old, so a gateway cut off that
    # long found no such id and wrote the counts again: doubled for good.
    clock = [T0]
    collector = DriftCollector(runtime.db, clock=lambda: clock[0])
    collector.observe("a", "m", 1, watch(), [[10.0]], body_bytes=0)
    with commit_answer_lost(runtime.db):
        asyncio.run(collector.flush())
    assert "drift counts kept for the next flush" in caplog.text
    assert stored_requests(runtime.db) == 1  # written all the same

    drift_rollup_job(runtime, now=T0 + timedelta(hours=2))  # summed into 9:00, the row deleted
    clock[0] = T0 + KEEP_FOR - SECOND  # the gateway reaches the store at the end of its wait
    drift_rollup_job(runtime, now=clock[0])  # and the roll-up has not forgotten the id yet
    asyncio.run(collector.flush())

    with runtime.db.unit_of_work() as session:
        rows = session.execute(select(DriftCount.hourly, DriftCount.requests)).all()
    assert rows == [(True, 1)]
    drift_rollup_job(runtime, now=T0 + FOLDED_KEPT + SECOND)  # no gateway retries it now
    with runtime.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(FoldedFlush)) == 0


def test_counts_kept_past_the_retry_horizon_are_given_up_not_risked_twice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Past KEEP_FOR the roll-up may have forgotten a row's id, so a retry could no longer tell
    # a row written unseen from one never written: such rows are lost (logged), never doubled.
    store = Database(f"sqlite:///{tmp_path}/later.db")  # no tables yet: every write fails
    clock = [T0]
    collector = DriftCollector(store, clock=lambda: clock[0])
    for route, at in (("a", T0), ("b", T0 + 2 * SECOND)):
        clock[0] = at
        collector.observe(route, "m", 1, watch(), [[10.0]], body_bytes=0)
        asyncio.run(collector.flush())
    assert "drift counts lost" not in caplog.text

    upgrade(store.engine)
    clock[0] = T0 + KEEP_FOR + SECOND
    asyncio.run(collector.flush())

    assert "drift counts lost: kept too long for the store" in caplog.text
    with store.unit_of_work() as session:
        assert sorted(session.scalars(select(DriftCount.route))) == ["b"]
    store.engine.dispose()


def test_a_body_bigger_than_the_whole_queue_is_counted_when_the_queue_is_empty(
    runtime: Runtime,
) -> None:
    # A value per 4 bytes of body is charged against the capacity: a route taking bodies over
    # 8 MiB (4 bytes x 2,000,000) never had one counted, even by an idle gateway.
    collector = DriftCollector(runtime.db, capacity=1_000)
    inputs = [[12.345678]] * 800  # 800 values, in a body of 8,000 bytes: 2,000 charged
    body_bytes = len(orjson.dumps({"inputs": inputs}))
    assert body_bytes > BODY_BYTES_PER_VALUE * 1_000

    collector.observe("a", "m", 1, watch(), inputs, body_bytes=body_bytes)
    assert (collector.dropped, collector.filling) == (0, True)  # taken, and flushed early
    collector.observe("a", "m", 1, watch(), inputs, body_bytes=body_bytes)
    assert collector.dropped == 1  # past the capacity once the queue holds one
    asyncio.run(collector.flush())
    collector.observe("a", "m", 1, watch(), inputs, body_bytes=body_bytes)
    asyncio.run(collector.flush())

    assert collector.dropped == 1
    with runtime.db.unit_of_work() as session:
        counted = [(r.requests, sum(r.counts[0])) for r in session.scalars(select(DriftCount))]
    assert counted == [(1, 800), (1, 800)]


def test_the_queue_is_bounded_by_the_values_it_holds_not_by_requests(runtime: Runtime) -> None:
    dropped: list[int] = []
    collector = DriftCollector(runtime.db, capacity=1_000, on_drop=lambda: dropped.append(1))
    wide = [[1.0] * 10] * 60  # 600 values in one request

    collector.observe("a", "m", 1, watch(), [[1.0]] * 300, body_bytes=0)  # rows of one value
    assert not collector.filling
    collector.observe("a", "m", 1, watch(), {"x": [1.0] * 300}, body_bytes=0)  # the same as columns
    assert collector.filling
    collector.observe("a", "m", 1, watch(), wide, body_bytes=0)  # would pass 1,000 values: dropped

    assert (collector.dropped, len(dropped)) == (1, 1)
    asyncio.run(collector.flush())
    assert not collector.filling
    collector.observe("a", "m", 1, watch(), wide, body_bytes=0)  # room again once flushed
    assert collector.dropped == 1
    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
    assert (row.requests, sum(row.counts[0])) == (2, 600)


def test_a_named_tensor_counts_the_values_its_rows_hold(runtime: Runtime) -> None:
    collector = DriftCollector(runtime.db, capacity=1_000)
    tensor = {"float_input": [[1.0] * 10] * 60}  # KServe v2 / MLflow: 600 values

    collector.observe("a", "m", 1, watch(), tensor, body_bytes=0)
    assert collector.filling
    collector.observe(
        "a", "m", 1, watch(), tensor, body_bytes=0
    )  # would pass 1,000 values: dropped

    assert collector.dropped == 1


WIDE = [f"f{i}" for i in range(200)]  # the most features a reference profiles
ROWS = 1_000  # the capacity below holds 1,000 rows of 200 values


def wide_requests(rows: int) -> dict[str, object]:
    """The same ``rows`` rows, 200 features each, in every shape a client may send them."""
    return {
        "rows": [[0.5] * 200] * rows,
        "objects": [dict.fromkeys(WIDE, 0.5)] * rows,
        "objects, all empty": [{}] * rows,
        "objects, one feature": [{"f0": 0.5}] * rows,
        "one named tensor": {"float_input": [[0.5] * 200] * rows},
        "columns": {name: [0.5] * rows for name in WIDE},
        "one column": {"f0": [0.5] * rows},
        "columns, a short one first": {"f1": [0.5], "f0": [0.5] * rows},
    }


@pytest.mark.parametrize("shape", list(wide_requests(0)))
def test_a_request_costs_its_rows_times_the_features_whatever_its_shape(
    runtime: Runtime, shape: str
) -> None:
    # Counting reads every feature of every row: a request sending its rows as a short column
    # and a long one, or as empty objects, must not pass as two values and cost the flush
    # thread (which shares the GIL with the gateway) 200 times its rows. (No body here: the
    # values read alone; what a body holds besides is the next test's.)
    wide = DriftWatch(
        "ref-wide", Binner(build_profile(WIDE, [[float(i)] * 200 for i in range(100)]))
    )
    collector = DriftCollector(runtime.db, capacity=(ROWS + 1) * len(WIDE))
    one_row = [[0.5] * len(WIDE)]  # queued first: an empty queue takes a request of any cost

    collector.observe("a", "m", 1, wide, one_row, body_bytes=0)
    collector.observe("a", "m", 1, wide, wide_requests(ROWS)[shape], body_bytes=0)
    assert (collector.dropped, collector.filling) == (0, True)
    asyncio.run(collector.flush())
    collector.observe("a", "m", 1, wide, one_row, body_bytes=0)
    collector.observe(
        "a", "m", 1, wide, wide_requests(ROWS + 1)[shape], body_bytes=0
    )  # one row too many

    assert collector.dropped == 1
    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
    assert row.requests == 2
    assert [sum(feature) for feature in row.counts] == [ROWS + 1] * len(WIDE)


JUNK = 50_000  # values a request holds that no count reads


def junk_requests() -> dict[str, object]:
    """One row of feature ``x`` (or none) and 50,000 values no count reads, wherever a client
    may put them."""
    zeros = [0] * JUNK
    return {
        "keys of a later row": [{"x": 1.0}, {"x": 1.0, **{f"z{i}": 0 for i in range(JUNK)}}],
        "keys of one object": {"x": 1.0, **{f"z{i}": 0 for i in range(JUNK)}},
        "a list beside a row's feature": [{"x": 1.0, "z": zeros}],
        "a list beside one object's feature": {"x": 1.0, "z": zeros},
        "a longer later row": [[1.0], zeros],
        "a column that is no feature": {"x": [1.0], "z": zeros},
        "a list as a feature's value": [{"x": zeros}],
        "a list beside a named tensor": {"X": [[1.0]], "z": zeros},
    }


@pytest.mark.parametrize("shape", list(junk_requests()))
def test_what_a_request_holds_beyond_its_features_counts_against_the_queue(
    runtime: Runtime, shape: str
) -> None:
    # The queue keeps each request's parsed body alive until the flush: values no count reads
    # (keys that are no feature, rows of another width, lists in values) passed as a row or two,
    # so a gateway held every such request of a flush interval, a megabyte of body at a time.
    collector = DriftCollector(runtime.db, capacity=JUNK // 5)
    small = [[10.0]]  # queued first: an empty queue takes a request of any cost
    body = orjson.dumps({"inputs": small})
    collector.observe("a", "m", 1, watch(), small, body_bytes=len(body))
    inputs = junk_requests()[shape]
    body = orjson.dumps({"inputs": inputs})
    collector.observe("a", "m", 1, watch(), inputs, body_bytes=len(body))
    assert collector.dropped == 1

    asyncio.run(collector.flush())

    with runtime.db.unit_of_work() as session:
        (row,) = session.scalars(select(DriftCount))
    assert (row.requests, row.counts) == (1, [[1, 0, 0, 0, 0]])


def test_a_value_nested_deep_loses_no_counts_of_other_routes(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    plans = DriftWatch("ref-plan", Binner(build_profile(["plan"], [["basic"], ["pro"]] * 50)))
    deep = orjson.loads("[[" + "[" * 998 + "]" * 998 + "]]")  # one row: its plan nested 999 deep
    collector = DriftCollector(runtime.db)
    collector.observe("a", "m", 1, plans, deep, body_bytes=0)
    collector.observe("b", "m", 1, plans, [["pro"], ["basic"]], body_bytes=0)

    asyncio.run(collector.flush())

    assert "drift counts lost" not in caplog.text
    with runtime.db.unit_of_work() as session:
        counts = {r.route: r.counts for r in session.scalars(select(DriftCount))}
    assert counts == {"a": [[0, 0, 1, 0]], "b": [[1, 1, 0, 0]]}  # basic, pro, other, missing
