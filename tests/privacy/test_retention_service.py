"""Retention purges exactly the expired records (injected clock); legal holds are respected."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.gateway.models import RequestLog
from mlgate.ids import new_id
from mlgate.monitoring.models import DriftCount
from mlgate.privacy import service
from mlgate.privacy.models import RequestPayload
from mlgate.privacy.schemas import HoldCreate
from mlgate.privacy.subjects import subject_pseudonym
from mlgate.runtime import Runtime
from tests.concurrency import lock_waiters, until
from tests.privacy.conftest import CliRunner, serve_upstream_route

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def _log(runtime: Runtime, route: str, at: datetime, subject: str | None = None) -> str:
    record_id = new_id()
    pseudonym = subject_pseudonym(runtime.secret, subject)
    with runtime.db.unit_of_work() as session:
        session.add(
            RequestLog(
                id=record_id,
                at=at,
                route=route,
                model="m",
                version=1,
                target=None,
                status=200,
                outcome="ok",
                latency_ms=1.0,
                attempts=1,
                key_id=None,
                subject=pseudonym,
                request_id="r",
            )
        )
        session.add(
            RequestPayload(
                id=record_id,
                at=at,
                route=route,
                subject=pseudonym,
                mode="redacted",
                categories=[],
                body={"inputs": "x"},
            )
        )
    return record_id


def _remaining(runtime: Runtime) -> tuple[set[str], set[str]]:
    with runtime.db.unit_of_work() as session:
        logs = set(session.scalars(select(RequestLog.id)))
        payloads = set(session.scalars(select(RequestPayload.id)))
    return logs, payloads


def _routes(runtime: Runtime) -> None:
    url = "http://127.0.0.1:9"  # never called: purging reads only the routes' retention
    serve_upstream_route(runtime, route="short", model="short-m", url=url, retention_days=1)
    serve_upstream_route(runtime, route="long", model="long-m", url=url, retention_days=10)


def test_purge_deletes_exactly_the_expired_records(runtime: Runtime, admin: Principal) -> None:
    _routes(runtime)
    expired = {
        _log(runtime, "short", NOW - DAY),  # exactly at the limit: retained a full day
        _log(runtime, "short", NOW - 5 * DAY),
        _log(runtime, "long", NOW - 10 * DAY - SECOND),
        _log(runtime, "gone", NOW - 30 * DAY),  # a deleted route keeps the default 30 days
    }
    kept = {
        _log(runtime, "short", NOW - DAY + SECOND),
        _log(runtime, "long", NOW - 9 * DAY),
        _log(runtime, "gone", NOW - 29 * DAY),
        _log(runtime, "short", NOW),
    }

    dry = service.purge_job(runtime, now=NOW, dry_run=True, actor=admin)
    assert (dry.logs, dry.payloads) == (4, 4)
    assert _remaining(runtime) == (expired | kept, expired | kept)

    result = service.purge_job(runtime, now=NOW, actor=admin)
    assert (result.logs, result.payloads) == (4, 4)
    assert {r.route: r.logs for r in result.routes} == {"gone": 1, "long": 1, "short": 2}
    assert _remaining(runtime) == (kept, kept)
    with runtime.db.unit_of_work() as session:
        assert [e.action for e in audit.get_all(session)].count("privacy.purged") == 1
    again = service.purge_job(runtime, now=NOW, actor=admin)
    assert (again.logs, again.payloads) == (0, 0)


def test_legal_holds_suspend_purging_until_lifted(runtime: Runtime, admin: Principal) -> None:
    _routes(runtime)
    held_route = _log(runtime, "long", NOW - 20 * DAY)
    held_subject = _log(runtime, "short", NOW - 5 * DAY, subject="carol@example.com")
    other_subject = _log(runtime, "short", NOW - 5 * DAY, subject="dave@example.com")
    with runtime.db.unit_of_work() as session:
        route_hold = service.add_hold(
            session,
            secret=runtime.secret,
            hold_in=HoldCreate(kind="route", target="long", reason="case 17"),
            actor=admin,
        )
        subject_hold = service.add_hold(
            session,
            secret=runtime.secret,
            hold_in=HoldCreate(kind="subject", target="carol@example.com", reason="case 18"),
            actor=admin,
        )
        assert "carol" not in subject_hold.target  # stored as the pseudonym only

    result = service.purge_job(runtime, now=NOW, actor=admin)
    assert result.logs == 1
    assert result.spared_by_subject_holds == 1
    assert next(r for r in result.routes if r.route == "long").held
    assert _remaining(runtime)[0] == {held_route, held_subject}
    assert other_subject not in _remaining(runtime)[1]

    with runtime.db.unit_of_work() as session:
        service.remove_hold(session, hold_id=route_hold.id, actor=admin)
        service.remove_hold(session, hold_id=subject_hold.id, actor=admin)
        assert service.list_holds(session) == []
    service.purge_job(runtime, now=NOW, actor=admin)
    assert _remaining(runtime) == (set(), set())


def test_purge_and_holds_from_the_cli(cli: CliRunner, runtime: Runtime) -> None:
    assert cli("init").code == 0
    old = _log(runtime, "gone", datetime.now(UTC) - 31 * DAY)
    added = cli("privacy", "hold", "add", "--route", "gone", "--reason", "audit", "--json")
    assert added.code == 0, added.err
    assert cli("privacy", "hold", "add", "--route", "gone", "--reason", "again").code == 1
    held = cli("privacy", "purge", "--json")
    assert held.code == 0
    assert '"logs": 0' in held.out
    hold_id = cli("privacy", "hold", "list", "--json").out.split('"id": "')[1].split('"')[0]
    assert cli("privacy", "hold", "remove", hold_id).code == 0
    dry = cli("privacy", "purge", "--dry-run", "--json")
    assert '"logs": 1' in dry.out
    assert old in _remaining(runtime)[0]
    done = cli("privacy", "purge")
    assert done.code == 0
    assert "deleted 1 log(s)" in done.out
    assert _remaining(runtime) == (set(), set())


def _drift_count(runtime: Runtime, route: str, at: datetime) -> str:
    row_id = new_id()
    with runtime.db.unit_of_work() as session:
        session.add(
            DriftCount(
                id=row_id,
                at=at,
                route=route,
                model="m",
                version=1,
                reference_id=new_id(),
                requests=1,
                unreadable=0,
                counts=[[1, 0]],
            )
        )
    return row_id


def test_drift_counts_follow_their_routes_retention_and_holds(
    runtime: Runtime, admin: Principal
) -> None:
    _routes(runtime)
    expired = _drift_count(runtime, "short", NOW - 2 * DAY)
    kept = _drift_count(runtime, "short", NOW - DAY + SECOND)
    held = _drift_count(runtime, "long", NOW - 20 * DAY)
    with runtime.db.unit_of_work() as session:
        service.add_hold(
            session,
            secret=runtime.secret,
            hold_in=HoldCreate(kind="route", target="long", reason="case 19"),
            actor=admin,
        )

    dry = service.purge_job(runtime, now=NOW, dry_run=True, actor=admin)
    result = service.purge_job(runtime, now=NOW, actor=admin)

    assert dry.drift_counts == result.drift_counts == 1
    with runtime.db.unit_of_work() as session:
        left = set(session.scalars(select(DriftCount.id)))
        purged = audit.latest(session, action="privacy.purged")
    assert left == {kept, held}
    assert expired not in left
    assert purged is not None
    assert purged.change["drift_counts"] == 1


def test_a_hold_confirmed_while_a_purge_runs_protects_what_it_saw(
    runtime: Runtime, admin: Principal
) -> None:
    """A purge reads the holds first and deletes after: a hold added in between must wait.

    The purge is stalled on a row lock after reading the holds (another session holds one of
    the rows it deletes), the hold is added meanwhile. Without ordering, the hold was confirmed
    while the subject's records were still there, and the purge deleted them afterwards.
    """
    if runtime.db.dialect == "sqlite":
        pytest.skip("on SQLite every transaction holds the write lock from BEGIN IMMEDIATE on")
    _routes(runtime)
    record = _log(runtime, "short", NOW - 5 * DAY, subject="erin@example.com")
    seen_at_confirmation: list[bool] = []

    def hold() -> None:
        with runtime.db.unit_of_work() as session:
            service.add_hold(
                session,
                secret=runtime.secret,
                hold_in=HoldCreate(kind="subject", target="erin@example.com", reason="case 19"),
                actor=admin,
            )
        seen_at_confirmation.append(record in _remaining(runtime)[0])

    with ThreadPoolExecutor(max_workers=2) as pool, runtime.db.engine.connect() as blocker:
        blocker.execute(select(RequestLog.id).where(RequestLog.id == record).with_for_update())
        purging = pool.submit(service.purge_job, runtime, now=NOW, actor=admin)
        until(lambda: lock_waiters(runtime) >= 1 or purging.done(), "the purge reached no row")
        assert not purging.done(), purging.result()
        holding = pool.submit(hold)
        until(lambda: holding.done() or lock_waiters(runtime) >= 2, "the hold did not run or wait")
        blocker.rollback()  # the purge goes on
        purging.result(timeout=30)
        holding.result(timeout=30)
    # Confirmed while the records were there, the hold must have kept them.
    assert seen_at_confirmation == [record in _remaining(runtime)[0]]
