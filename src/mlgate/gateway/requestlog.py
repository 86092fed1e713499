"""Request logs leave the hot path through a bounded queue and a batch writer.

``emit`` never waits: a full queue drops the record and counts it, so logging can never slow
or fail a request. The writer drains up to ``batch`` records at a time and writes them in one
transaction on a worker thread, off the event loop. After the first record of a batch it
lingers a moment (``linger``) so that under load a batch holds hundreds of records: one
transaction and one thread hop for many requests instead of one each (measured: writing each
record as it came cost a busy worker a third of its throughput). A row the database refuses
fails its transaction, so that batch is written again in halves: the record at fault is lost
and counted in the log, its batch is not (within 24 failed transactions a batch). A store that
is down, restarting or locked fails the whole attempt: the batch is tried again after pauses
growing to 8 s (about 16 s in all; records that arrive meanwhile wait in the queue, which drops
and counts once full), and a record an attempt wrote before its commit was lost on the way is
not written twice.

Erasure reaches the queue. A record is not written when its subject was erased after its request
was received (``at`` less ``latency_ms``): neither its metadata row (it is keyed by the subject's
pseudonym, and the erasure deleted every such row) nor its payload, and no data key is made for it
again. A request received after the erasure is new processing and is written as usual, except
within ``ERASURE_MARGIN`` of it: the request's time is the gateway's clock and the erasure's that
of the host that erased, so a margin for their skew keeps a request made just before the erasure on
a gateway whose clock runs ahead from being written (a few seconds of new requests go unlogged
instead, which is the safe side). The check is one query per batch, in the batch's transaction,
against the erasures' tombstones (``privacy.erasures``, which also orders it with erasures running
elsewhere); a batch without subjects skips it. Sinks work in two steps: CPU work (redaction, PII
detection) on the whole batch before the transaction opens, then a store step in the transaction
that receives only the records being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DataError, IntegrityError

from mlgate.gateway.models import RequestLog
from mlgate.privacy.erasures import erasure_times
from mlgate.store.database import UNREACHABLE, Database, already_written

__all__ = [
    "ERASURE_MARGIN",
    "BatchStore",
    "CapturedPayload",
    "RecordSink",
    "RequestLogRecord",
    "RequestLogWriter",
]

logger = logging.getLogger(__name__)

# NTP keeps hosts within milliseconds of each other; two seconds covers a host that drifted
# between syncs or a virtual machine that was paused.
ERASURE_MARGIN = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class CapturedPayload:
    """Inputs and outputs of a request on a route whose log mode keeps payloads.

    Only sinks see it (privacy's PayloadSink redacts or encrypts it in the writer thread); the
    metadata row in ``request_logs`` never holds a payload.
    """

    mode: str
    inputs: Any
    outputs: Any
    redact_inputs: bool = False


class RequestLogRecord(NamedTuple):
    """One request's metadata (the first fields, in the table's column order) and payload.

    A named tuple, not a frozen dataclass: the gateway makes one per request, and a frozen
    dataclass of this size took four times as long to build (measured: 4.7 vs 1.4 µs).
    """

    id: str
    at: datetime
    route: str
    model: str | None
    version: int | None
    target: str | None
    status: int
    outcome: str
    latency_ms: float
    attempts: int
    key_id: str | None
    subject: str | None
    request_id: str
    payload: CapturedPayload | None = None


_TABLE = cast(Table, RequestLog.__table__)
# Rows per SQLite statement: 13 values each, within the driver's limit on bound values.
_SQLITE_ROWS = 32766 // 13 if sqlite3.sqlite_version_info >= (3, 32) else 999 // 13
_METADATA = RequestLogRecord._fields[:-1]  # every field but the payload
# What a database says of a row it will not hold; a connection or server failure, a missing
# table or permission is none of these.
_REFUSED = (DataError, IntegrityError)
# Transactions a batch may spend finding its refused rows: enough to single out a few; a
# batch that keeps being refused has a fault common to all its rows and is lost, not split.
_REFUSED_TRIES = 24
# Pauses before a batch the store could not take is tried again: a store back within about
# 16 s loses nothing (the queue holds what arrives meanwhile).
RETRY_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
BatchStore = Callable[[Connection, Sequence[RequestLogRecord]], None]
"""A sink's store step: writes its part of the records kept, in the batch's transaction."""
RecordSink = Callable[[Sequence[RequestLogRecord]], BatchStore]
"""Does a sink's CPU work on a whole batch, before its transaction opens; returns its store."""


class RequestLogWriter:
    def __init__(
        self,
        db: Database,
        *,
        capacity: int = 10_000,
        batch: int = 500,
        linger: float = 0.05,
        on_drop: Callable[[], None] | None = None,
        on_written: Callable[[int], None] | None = None,
        sinks: Sequence[RecordSink] = (),
    ) -> None:
        self._db = db
        self._queue: asyncio.Queue[RequestLogRecord] = asyncio.Queue(maxsize=capacity)
        self._batch = batch
        self._linger = linger
        self._on_drop = on_drop
        self._on_written = on_written
        self._sinks = list(sinks)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.dropped = 0

    def emit(self, record: RequestLogRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()

    def start(self) -> None:
        self._stopping.clear()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="request-log")

    async def stop(self) -> None:
        self._stopping.set()  # what is left gets one attempt each: shutdown waits for no pause
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush(self) -> None:
        """Wait until every record emitted so far is written (or failed and logged)."""
        if self._task is not None:
            await self._queue.join()

    async def _run(self) -> None:
        while True:
            records = [await self._queue.get()]
            if self._linger and self._queue.qsize() < self._batch:
                await asyncio.sleep(self._linger)
            while len(records) < self._batch and not self._queue.empty():
                records.append(self._queue.get_nowait())
            try:
                await self._write_tried_again(records)
            except Exception:  # a failed batch is logged; requests never see it
                logger.exception("request-log batch lost", extra={"records": len(records)})
            finally:
                for _ in records:
                    self._queue.task_done()

    async def _write_tried_again(self, records: list[RequestLogRecord]) -> None:
        for attempt, pause in enumerate((*RETRY_PAUSES, None)):
            try:
                await asyncio.to_thread(self._write, records, attempt > 0)
                return
            except UNREACHABLE as error:
                if pause is None or self._stopping.is_set():
                    raise
                logger.warning(
                    "request-log store unreachable; the batch is tried again",
                    extra={
                        "records": len(records),
                        "retry_in_s": pause,
                        "error": type(error.orig or error).__name__,
                    },
                )
            with contextlib.suppress(TimeoutError):  # a pause that stop() cuts short
                await asyncio.wait_for(self._stopping.wait(), pause)

    def _write(self, records: list[RequestLogRecord], again: bool = False) -> None:
        """Write a batch; ``again``: an earlier attempt may have committed before it failed."""
        stores = [sink(records) for sink in self._sinks]
        lost: list[Exception] = []
        self._store(records, stores, lost, again, [_REFUSED_TRIES])
        if lost:  # counted, never named: a record may hold a subject's pseudonym
            logger.error(
                "request-log records lost: the database refused them",
                extra={"records": len(lost), "error": type(lost[0]).__name__},
            )

    def _store(
        self,
        records: list[RequestLogRecord],
        stores: list[BatchStore],
        lost: list[Exception],
        again: bool,
        tries: list[int],
    ) -> None:
        """Writes ``records`` in one transaction; a record the database refuses costs only itself.

        One refused row (a constraint, a value the column cannot hold) fails its whole
        transaction, so a failed batch is written again in halves, down to the record at fault,
        within ``tries`` failed transactions (shared by the whole batch): a fault common to
        every row loses the batch after that many, not after one per record.
        A database that is down fails with another error, which ends this attempt at once:
        the whole batch is tried again after a pause, never record by record.
        """
        if tries[0] <= 0:  # the batch used up its tries: not one more transaction
            lost.extend(lost[-1:] * len(records))
            return
        try:
            with self._db.engine.begin() as connection:
                fresh = _unwritten(connection, records) if again else records
                kept = _unerased(connection, fresh)
                if kept:
                    _insert_for(connection.dialect).execute(connection, kept)
                    for store in stores:
                        store(connection, kept)
        except _REFUSED as error:
            tries[0] -= 1
            if len(records) == 1 or tries[0] <= 0:
                lost.extend([error] * len(records))
                return
            middle = len(records) // 2
            self._store(records[:middle], stores, lost, again, tries)
            self._store(records[middle:], stores, lost, again, tries)
            return
        if len(kept) < len(fresh):  # counted, never named: a pseudonym is personal data
            logger.info(
                "request logs of erased subjects not written",
                extra={"records": len(fresh) - len(kept)},
            )
        if self._on_written is not None:
            self._on_written(len(kept))


def _unwritten(connection: Connection, records: list[RequestLogRecord]) -> list[RequestLogRecord]:
    """``records`` less those a failed attempt wrote after all (its commit lost on the way)."""
    written = already_written(connection, _TABLE.c.id, [r.id for r in records])
    return [r for r in records if r.id not in written] if written else records


def _unerased(connection: Connection, records: list[RequestLogRecord]) -> list[RequestLogRecord]:
    """``records`` less those of requests received before (or within the margin after) their
    subject's erasure."""
    subjects = {r.subject for r in records if r.subject is not None}
    erased = erasure_times(connection, subjects) if subjects else None
    if not erased:
        return records
    return [r for r in records if not _received_before(r, erased.get(r.subject or ""))]


def _received_before(record: RequestLogRecord, erased_at: datetime | None) -> bool:
    # The record is made when the answer goes out: its request came in ``latency_ms`` earlier.
    received = record.at - timedelta(milliseconds=record.latency_ms)
    return erased_at is not None and received <= erased_at + ERASURE_MARGIN


class _Insert:
    """The table's INSERT, compiled once per dialect, run for a batch of records.

    Rows go to the driver as they are, not through Core's per-row parameter processing: this
    thread shares the GIL with the hot path, and Core took 25 µs per record where this takes 13
    (measured on a batch of 500 on SQLite). On SQLite a batch is one multi-row INSERT rather
    than an executemany, because the driver releases and retakes the GIL for every row it steps
    and each retake waits on the busy event loop (measured in a loaded gateway: 38 µs of writer
    CPU per record with executemany, 24 with one statement). PostgreSQL's driver pipelines its
    executemany. The one value that needs converting is ``at``, an aware UTC datetime:
    PostgreSQL's driver takes it as it is; SQLite gets the text SQLAlchemy's own DateTime
    writes there (naive UTC, always with microseconds, so stored times compare as text in the
    order of time).
    """

    def __init__(self, dialect: Dialect) -> None:
        compiled = insert(_TABLE).compile(dialect=dialect)
        self.sql = str(compiled)
        self._sqlite = dialect.name == "sqlite"
        self._positional = compiled.positional
        order = tuple(compiled.positiontup or ()) if self._positional else _METADATA
        if tuple(_TABLE.columns.keys()) != _METADATA or order != _METADATA:
            raise RuntimeError("RequestLogRecord's fields must follow request_logs' columns")

    def execute(self, connection: Connection, records: Sequence[RequestLogRecord]) -> None:
        if self._sqlite:
            head, values = self.sql.split(" VALUES ")
            for start in range(0, len(records), _SQLITE_ROWS):
                chunk = records[start : start + _SQLITE_ROWS]
                parameters: list[Any] = []
                for r in chunk:
                    parameters.extend((r[0], _sqlite_time(r[1]), *r[2:13]))
                connection.exec_driver_sql(  # a tuple: a list would mean executemany
                    f"{head} VALUES {','.join([values] * len(chunk))}", tuple(parameters)
                )
            return
        rows = [r[:13] for r in records]
        if self._positional:
            connection.exec_driver_sql(self.sql, rows)
        else:
            connection.exec_driver_sql(
                self.sql, [dict(zip(_METADATA, row, strict=True)) for row in rows]
            )


def _sqlite_time(at: datetime) -> str:
    """``at`` (UTC) as SQLAlchemy's DateTime writes it on SQLite, microseconds always there.

    By hand: flattening a record into the statement's parameters took 6.1 µs with ``strftime``
    (an f-string format) and takes 2.6 with this (measured on batches of 500).
    """
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031  (faster: see above)
        at.year,
        at.month,
        at.day,
        at.hour,
        at.minute,
        at.second,
        at.microsecond,
    )


_INSERTS: dict[str, _Insert] = {}


def _insert_for(dialect: Dialect) -> _Insert:
    key = f"{dialect.name}+{dialect.driver}"
    statement = _INSERTS.get(key)
    if statement is None:
        statement = _INSERTS[key] = _Insert(dialect)
    return statement
