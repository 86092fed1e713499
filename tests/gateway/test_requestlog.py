"""Request logs: written in batches and read back intact; a full queue drops, never waits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from mlgate.gateway.models import RequestLog
from mlgate.gateway.requestlog import RequestLogRecord, RequestLogWriter
from mlgate.ids import new_id
from mlgate.store.database import Database
from tests.relay import postgres_through_relay

pytestmark = pytest.mark.anyio


def record(at: datetime, **changes: object) -> RequestLogRecord:
    values: dict[str, object] = {
        "id": new_id(),
        "at": at,
        "route": "iris",
        "model": "iris",
        "version": 3,
        "target": "iris@3",
        "status": 200,
        "outcome": "ok",
        "latency_ms": 1.25,
        "attempts": 1,
        "key_id": "key-1",
        "subject": None,
        "request_id": "req-1",
    }
    values.update(changes)
    return RequestLogRecord(**values)  # type: ignore[arg-type]


async def test_records_read_back_through_the_orm_as_they_were_emitted(db: Database) -> None:
    written: list[int] = []
    writer = RequestLogWriter(db, linger=0, on_written=written.append)
    emitted = [
        record(datetime(2026, 11, 24, 9, 30, 1, 123456, tzinfo=UTC)),
        record(datetime(2026, 11, 24, 9, 30, 2, tzinfo=UTC), subject="f" * 64, version=None),
    ]
    writer.start()
    for item in emitted:
        writer.emit(item)
    await writer.stop()
    assert sum(written) == 2
    with db.sessions() as session:
        rows = {row.id: row for row in session.scalars(select(RequestLog))}
    for item in emitted:
        row = rows[item.id]
        assert row.at == item.at
        assert (row.route, row.version, row.status, row.subject) == (
            item.route,
            item.version,
            item.status,
            item.subject,
        )


async def test_a_full_queue_drops_and_counts_records_without_waiting(db: Database) -> None:
    dropped: list[int] = []
    writer = RequestLogWriter(db, capacity=3, on_drop=lambda: dropped.append(1))
    now = datetime.now(UTC)
    for _ in range(5):  # the writer is not started: nothing drains the queue
        writer.emit(record(now))
    assert writer.dropped == 2
    assert len(dropped) == 2


async def test_written_times_select_by_range_in_time_order(db: Database) -> None:
    """Times stored by the writer compare like the ORM's own (whole seconds included)."""
    times = [
        datetime(2026, 11, 24, 9, 30, 1, 999999, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 30, 2, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 30, 2, 1, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    ]
    writer = RequestLogWriter(db, linger=0)
    writer.start()
    for at in times:
        writer.emit(record(at, request_id=at.isoformat()))
    await writer.stop()
    low, high = times[1], times[3]
    with db.sessions() as session:
        found = session.scalars(
            select(RequestLog.at)
            .where(RequestLog.at >= low, RequestLog.at < high)
            .order_by(RequestLog.at)
        ).all()
    assert found == [times[1], times[2]]


async def test_a_batch_larger_than_one_statement_holds_is_written_whole(db: Database) -> None:
    count = 2 * 32766 // 13 + 7  # SQLite takes about 2,500 rows per statement: three of them
    writer = RequestLogWriter(db, capacity=count, batch=count, linger=0)
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    emitted = {new_id() for _ in range(count)}
    for item in emitted:
        writer.emit(record(at, id=item))
    writer.start()
    await writer.stop()
    with db.sessions() as session:
        assert set(session.scalars(select(RequestLog.id))) == emitted


async def test_a_record_the_database_refuses_costs_only_itself(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    taken = new_id()
    first = RequestLogWriter(db, linger=0)
    first.start()
    first.emit(record(at, id=taken))
    await first.stop()
    written: list[int] = []
    writer = RequestLogWriter(db, linger=0, on_written=written.append)
    batch = [new_id() for _ in range(6)]
    batch[4] = taken  # this id is written already: the database refuses the row
    for item in batch:
        writer.emit(record(at, id=item))
    writer.start()  # started after the emits: the six are one batch
    await writer.stop()
    assert sum(written) == 5
    with db.sessions() as session:
        assert set(session.scalars(select(RequestLog.id))) == set(batch)
    lost = [r for r in caplog.records if r.getMessage().startswith("request-log records lost")]
    assert [r.__dict__["records"] for r in lost] == [1]
    assert taken not in caplog.text  # nothing of the record itself reaches the log


async def test_a_batch_waits_out_a_database_restart(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    relay, url = postgres_through_relay(db_url)
    db = Database(url)
    written: list[int] = []
    writer = RequestLogWriter(db, linger=0, on_written=written.append)
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    try:
        writer.start()
        writer.emit(record(at))
        await writer.flush()  # the pool now holds a connection through the relay
        relay.cut()
        emitted = {new_id() for _ in range(3)}
        for item in emitted:
            writer.emit(record(at, id=item))
        deadline = time.monotonic() + 20
        while "the batch is tried again" not in caplog.text:  # an attempt failed
            assert time.monotonic() < deadline, "no attempt failed while the database was cut"
            await asyncio.sleep(0.01)
        relay.restore()
        await writer.stop()
        assert sum(written) == 4
        with db.sessions() as session:
            assert emitted <= set(session.scalars(select(RequestLog.id)))
        assert "request-log batch lost" not in caplog.text
    finally:
        relay.cut()
        db.dispose()


async def test_an_attempt_after_a_lost_commit_writes_no_record_twice(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """What an attempt wrote before its commit answer was lost is skipped by the next one."""
    written: list[int] = []
    writer = RequestLogWriter(db, on_written=written.append)
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    first, second = record(at, id=new_id()), record(at, id=new_id())
    writer._write([first])  # the attempt whose commit went through unseen
    writer._write([first, second], again=True)
    assert written == [1, 1]
    with db.sessions() as session:
        assert sorted(session.scalars(select(RequestLog.id))) == sorted([first.id, second.id])
    assert "request-log records lost" not in caplog.text


async def test_a_fault_common_to_every_row_loses_the_batch_without_one_try_per_record(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    taken = [record(at) for _ in range(100)]
    first = RequestLogWriter(db, linger=0)
    first._write(taken)
    transactions: list[int] = []
    listen = event.listens_for(db.engine, "begin")(lambda connection: transactions.append(1))
    try:
        RequestLogWriter(db)._write(taken)  # every id is written already: every row refused
    finally:
        event.remove(db.engine, "begin", listen)
    assert len(transactions) == 24  # the budget, where splitting to each record took 199
    lost = [r for r in caplog.records if r.getMessage().startswith("request-log records lost")]
    assert [r.__dict__["records"] for r in lost] == [100]


async def test_stopping_cuts_a_pause_between_attempts_short(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    relay, url = postgres_through_relay(db_url)
    db = Database(url)
    writer = RequestLogWriter(db, linger=0)
    try:
        relay.cut()
        writer.start()
        writer.emit(record(datetime(2026, 11, 24, 9, 30, tzinfo=UTC)))
        deadline = time.monotonic() + 20
        while not any(r.__dict__.get("retry_in_s") == 2.0 for r in caplog.records):
            assert time.monotonic() < deadline, "the writer never reached its 2 s pause"
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await writer.stop()  # one last attempt, no pause
        assert time.monotonic() - started < 1.5
        assert "request-log batch lost" in caplog.text
    finally:
        relay.cut()
        db.dispose()
