"""An erasure reaches the records still queued in a gateway's request-log writer.

The writer is driven by hand: records are emitted while it is stopped (so they sit in its queue
the way they sit there for its linger and batch time), the erasure runs from another process's
handles (its own ``Runtime``, engine and key store), and only then does the writer drain.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import anyio
import pytest
from sqlalchemy import select, text

from mlgate.auth.schemas import Principal
from mlgate.clock import utcnow
from mlgate.config import Settings
from mlgate.gateway.models import RequestLog
from mlgate.gateway.requestlog import (
    ERASURE_MARGIN,
    CapturedPayload,
    RequestLogRecord,
    RequestLogWriter,
)
from mlgate.ids import new_id
from mlgate.privacy import rights, service
from mlgate.privacy.holds import lock_holds_for_reading
from mlgate.privacy.keys import PrivacyKeys
from mlgate.privacy.keystore import SubjectKey
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.schemas import ErasureResult, HoldCreate, HoldRead
from mlgate.privacy.serving import payload_sinks
from mlgate.runtime import Runtime
from tests.conftest import TEST_SECRET
from tests.integration.processes import MLGATE

pytestmark = pytest.mark.anyio

ALICE = "alice@example.com"
BOB = "bob-4711"
DPO = Principal("dpo")


def _record(
    keys: PrivacyKeys,
    subject: str,
    *,
    at: datetime | None = None,
    latency_ms: float = 2.0,
    mode: str = "full",
) -> RequestLogRecord:
    """A request on a ``full`` route (its payload is sealed under the subject's own key)."""
    return RequestLogRecord(
        id=new_id(),
        at=at or utcnow(),
        route="full",
        model="m",
        version=1,
        target="m@1",
        status=200,
        outcome="ok",
        latency_ms=latency_ms,
        attempts=1,
        key_id=None,
        subject=keys.pseudonym(subject),
        request_id=new_id(),
        payload=None if mode == "metadata" else CapturedPayload(mode, {"who": subject}, {"ok": 1}),
    )


def _writer(runtime: Runtime, keys: PrivacyKeys) -> RequestLogWriter:
    return RequestLogWriter(runtime.db, linger=0, sinks=payload_sinks(runtime, keys))


async def _drain(writer: RequestLogWriter) -> None:
    writer.start()
    await writer.stop()


def _stored(runtime: Runtime, keys: PrivacyKeys, subject: str) -> tuple[set[str], set[str], bool]:
    """Ids of the subject's request logs and payloads, and whether its data key exists."""
    pseudonym = keys.pseudonym(subject)
    with runtime.db.unit_of_work() as session:
        logs = set(session.scalars(select(RequestLog.id).where(RequestLog.subject == pseudonym)))
        payloads = set(
            session.scalars(select(RequestPayload.id).where(RequestPayload.subject == pseudonym))
        )
    with keys.keystore.unit_of_work() as keys_session:
        has_key = keys_session.get(SubjectKey, pseudonym) is not None
    return logs, payloads, has_key


async def test_records_queued_before_an_erasure_are_not_written_after_it(
    runtime: Runtime, keys: PrivacyKeys, control: tuple[Runtime, PrivacyKeys]
) -> None:
    writer = _writer(runtime, keys)
    written = _record(keys, ALICE)
    writer.emit(written)
    await _drain(writer)  # an earlier batch: in the store when the erasure comes
    queued = [_record(keys, ALICE), _record(keys, ALICE)]
    bob = _record(keys, BOB)
    writer = _writer(runtime, keys)
    for record in (queued[0], bob, queued[1]):
        writer.emit(record)

    erased = service.erase_job(*control, subject=ALICE, actor=DPO, dry_run=False)
    assert (erased.logs, erased.payloads, erased.key_destroyed) == (1, 1, True)
    await _drain(writer)

    assert _stored(runtime, keys, ALICE) == (set(), set(), False)
    assert service.export_job(*control, subject=ALICE, actor=DPO).records == []
    # Requests without an erasure are written as before, in the same batch.
    assert _stored(runtime, keys, BOB) == ({bob.id}, {bob.id}, True)


async def test_an_erasure_by_the_cli_in_another_process_reaches_the_queue(
    runtime: Runtime, keys: PrivacyKeys, settings: Settings
) -> None:
    writer = _writer(runtime, keys)
    queued = _record(keys, ALICE)
    writer.emit(queued)
    erase = [MLGATE, "--database-url", settings.database_url, "--data-dir", str(settings.data_dir)]
    done = subprocess.run(  # blocks the loop: fine, the writer is not started yet
        [*erase, "privacy", "erase", ALICE, "--yes"],
        env={**os.environ, "MLGATE_SECRET_KEY": TEST_SECRET},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    await _drain(writer)
    assert _stored(runtime, keys, ALICE) == (set(), set(), False)


async def test_a_request_received_before_the_erasure_and_answered_after_it_is_not_written(
    runtime: Runtime, keys: PrivacyKeys, control: tuple[Runtime, PrivacyKeys]
) -> None:
    received = utcnow()
    service.erase_job(*control, subject=ALICE, actor=DPO, dry_run=False)
    answered = utcnow()
    in_flight = _record(
        keys, ALICE, at=answered, latency_ms=(answered - received).total_seconds() * 1000
    )
    writer = _writer(runtime, keys)
    writer.emit(in_flight)
    await _drain(writer)
    assert _stored(runtime, keys, ALICE) == (set(), set(), False)


async def test_requests_after_the_erasure_are_new_processing_and_are_logged(
    runtime: Runtime, keys: PrivacyKeys, control: tuple[Runtime, PrivacyKeys]
) -> None:
    writer = _writer(runtime, keys)
    before = _record(keys, ALICE)
    writer.emit(before)
    service.erase_job(*control, subject=ALICE, actor=DPO, dry_run=False)
    after = _record(keys, ALICE, at=utcnow() + ERASURE_MARGIN + timedelta(seconds=1))
    writer.emit(after)  # one batch holds both sides of the erasure
    await _drain(writer)

    assert _stored(runtime, keys, ALICE) == ({after.id}, {after.id}, True)
    exported = service.export_job(*control, subject=ALICE, actor=DPO)
    assert [(r.id, r.payload) for r in exported.records] == [
        (after.id, {"inputs": {"who": ALICE}, "outputs": {"ok": 1}})
    ]


async def test_a_request_stamped_by_a_gateway_clock_running_ahead_is_not_written(
    runtime: Runtime, keys: PrivacyKeys, control: tuple[Runtime, PrivacyKeys]
) -> None:
    # Received before the erasure, but this gateway's clock runs a second ahead of the host
    # that erased, so its record says it came in after.
    ahead = timedelta(seconds=1)
    received = utcnow() + ahead
    service.erase_job(*control, subject=ALICE, actor=DPO, dry_run=False)
    writer = _writer(runtime, keys)
    writer.emit(_record(keys, ALICE, at=received, latency_ms=0.0))
    await _drain(writer)
    assert _stored(runtime, keys, ALICE) == (set(), set(), False)


def _waits_or_wrote(runtime: Runtime, record: RequestLogRecord) -> bool:
    """Whether a session of this database waits on a lock, or ``record`` is written."""
    with runtime.db.engine.connect() as connection:
        waiting = connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
        written = connection.scalar(select(RequestLog.id).where(RequestLog.id == record.id))
    return bool(waiting or written)


async def test_a_batch_written_while_an_erasure_runs_waits_for_it_and_leaves_its_subject_out(
    runtime: Runtime, keys: PrivacyKeys, control: tuple[Runtime, PrivacyKeys]
) -> None:
    if runtime.db.dialect == "sqlite":
        pytest.skip("on SQLite every transaction holds the write lock from BEGIN IMMEDIATE on")
    control_runtime, control_keys = control
    writer = _writer(runtime, keys)
    # Metadata only: a payload would wait on the key store, which the erasure holds too.
    queued = _record(keys, ALICE, mode="metadata")
    writer.emit(queued)
    with (
        control_runtime.db.unit_of_work() as session,
        control_keys.keystore.unit_of_work() as keys_session,
    ):
        rights.erase_subject(
            session, keys_session, secret=control_runtime.secret, subject=ALICE, actor=DPO
        )
        writer.start()  # its batch reads the tombstones before the erasure has committed
        deadline = time.monotonic() + 10
        while not _waits_or_wrote(runtime, queued):
            assert time.monotonic() < deadline, "the batch neither waited nor was written"
            await anyio.sleep(0.01)
    await writer.stop()
    assert _stored(runtime, keys, ALICE) == (set(), set(), False)


def _advisory_waits(runtime: Runtime) -> int:
    """How many sessions of this database wait for an advisory lock."""
    with runtime.db.engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )
            or 0
        )


def _written(runtime: Runtime, record: RequestLogRecord) -> bool:
    with runtime.db.engine.connect() as connection:
        found = connection.scalar(select(RequestLog.id).where(RequestLog.id == record.id))
    return found is not None


async def _until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, failure
        await anyio.sleep(0.01)


async def test_an_erasure_waiting_behind_a_new_hold_does_not_hold_up_the_log_writer(
    runtime: Runtime, keys: PrivacyKeys, control: tuple[Runtime, PrivacyKeys]
) -> None:
    """A long purge reads holds; a hold being added waits for it, and an erasure behind that.

    PostgreSQL queues the erasure's shared request on the holds lock behind the waiting
    exclusive one. Had the erasure taken the request-log writers' lock first, every batch
    would wait for as long as the purge runs.
    """
    if runtime.db.dialect == "sqlite":
        pytest.skip("on SQLite every transaction holds the write lock from BEGIN IMMEDIATE on")
    control_runtime = control[0]
    outcomes: dict[str, object] = {}

    def add_hold() -> object:
        hold_in = HoldCreate(kind="route", target="other", reason="litigation")
        with control_runtime.db.unit_of_work() as session:
            secret = control_runtime.secret
            return service.add_hold(session, secret=secret, hold_in=hold_in, actor=DPO)

    def erase() -> object:
        return service.erase_job(*control, subject=ALICE, actor=DPO, dry_run=False)

    def start(name: str, work: Callable[[], object]) -> threading.Thread:
        def run() -> None:
            try:
                outcomes[name] = work()
            except Exception as error:  # kept: asserted on below
                outcomes[name] = error

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    writer = _writer(runtime, keys)
    batch = _record(keys, BOB, mode="metadata")
    threads: list[threading.Thread] = []
    try:
        with control_runtime.db.unit_of_work() as purge:
            lock_holds_for_reading(purge)  # a purge reading holds, for as long as it runs
            threads.append(start("hold", add_hold))
            await _until(lambda: _advisory_waits(runtime) == 1, "the new hold did not wait")
            threads.append(start("erasure", erase))
            await _until(lambda: _advisory_waits(runtime) == 2, "the erasure did not wait")
            writer.emit(batch)
            writer.start()
            await _until(lambda: _written(runtime, batch), "the batch waited for the purge")
    finally:  # the purge has ended: the hold is added, then the erasure runs
        for thread in threads:
            thread.join(timeout=30)
        await writer.stop()
    assert isinstance(outcomes["hold"], HoldRead)
    assert isinstance(outcomes["erasure"], ErasureResult)
